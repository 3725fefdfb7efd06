"""The package's imports form no circle (read from the source with ``ast``; lazy imports count too)."""

import ast
from pathlib import Path

import wormhole

PACKAGE = Path(wormhole.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _targets(name: str, path: Path):
    """The package modules that ``name`` imports, anywhere in its source."""
    here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here[:len(here) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found = [f"{module}.{a.name}" if f"{module}.{a.name}" in MODULES else module for a in node.names]
        else:
            continue
        for target in found:
            if target not in MODULES:
                continue
            yield target
            # importing a.b.c runs the __init__ of every package above it that does not already hold the importer
            parts = target.split(".")
            for i in range(2, len(parts)):
                package = ".".join(parts[:i])
                if not name.startswith(package + ".") and package != name:
                    yield package


def import_graph() -> dict[str, set[str]]:
    return {name: set(_targets(name, path)) - {name} for name, path in MODULES.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_package_has_no_import_circle():
    graph = import_graph()
    assert "wormhole.optim" in graph["wormhole.learners.base"]  # the graph sees relative imports
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_shared_core_does_not_name_the_wormhole():
    """Method state reaches the shared code through hooks; only the CLI's preset names the method."""
    words = ("wormhole_init", "WORMHOLE_KEY", "learners.wormhole", "wormhole_usage")
    for name in ("wormhole.learners.base", "wormhole.training", "wormhole.evaluation", "wormhole.experiments"):
        source = MODULES[name].read_text()
        for word in words + (('"wormhole"',) if name != "wormhole.experiments" else ()):
            assert word not in source, f"{name} mentions {word}"
    assert "WORMHOLE_KEY" not in MODULES["wormhole.learners.anil"].read_text()


def test_import_wormhole_is_lean():
    """``import wormhole`` loads no plotting, notebook, wavelet or dataset library: the book's layer
    and the optional task libraries load when first used (``wh.plotting``, a wavelet family)."""
    import subprocess
    import sys

    heavy = ("matplotlib", "IPython", "ipywidgets", "pywt", "mlxtend", "pandas", "sklearn", "scipy")
    code = ("import sys, wormhole as wh; print(' '.join(m for m in %r if m in sys.modules)); "
            "wh.plotting; wh.tasks.WaveletRegression(); print('matplotlib' in sys.modules, 'pywt' in sys.modules)"
            % (heavy,))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == "", f"import wormhole loaded {out[0]}"
    assert out[1] == "True True"   # and they do load on first use


def test_the_core_does_not_import_the_books_layer():
    """Training, evaluation and comparisons are the library; the book's settings (sizes, seeds,
    metrics files), its results page and its displays are a layer on top that the core does not
    load (a record made *for* the book loads ``wormhole.book`` when it is made)."""
    import subprocess
    import sys

    book_layer = ["wormhole.book", "wormhole.report", "wormhole.display", "wormhole.plotting", "wormhole.tuning"]
    code = ("import sys, wormhole.training, wormhole.evaluation, wormhole.experiments, wormhole.diagnostics; "
            f"print([m for m in {book_layer!r} if m in sys.modules])")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]", f"the core loaded the book's layer: {loaded}"


def test_no_public_function_takes_more_than_five_positional_arguments():
    """Settings are passed by name, so that reordering them cannot break a caller silently
    (records' generated constructors, the dataclasses, are exempt)."""
    import dataclasses
    import importlib
    import inspect
    import pkgutil

    import wormhole
    too_many = []
    for info in pkgutil.walk_packages(wormhole.__path__, "wormhole."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj):
                functions = [(name, obj)]
            elif inspect.isclass(obj):
                functions = [(f"{name}.{n}", f) for n, f in vars(obj).items() if inspect.isfunction(f)
                             and (not n.startswith("_") or (n == "__init__" and not dataclasses.is_dataclass(obj)))]
            else:
                continue
            for label, f in functions:
                positional = [p for p in inspect.signature(f).parameters.values()
                              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in ("self", "cls")]
                if len(positional) > 5:
                    too_many.append(f"{module.__name__}.{label} ({len(positional)})")
    assert not too_many, too_many
