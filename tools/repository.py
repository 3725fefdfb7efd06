"""The book's repository URL and the package its chapters install, stamped where they are needed.

``repository.url`` in ``_config.yml`` is the only place the URL is set. Jupyter Book reads it
for the repository and launch buttons (Binder, Colab); each notebook's first code cell
(``INSTALL_CELL_ID``) installs the package from it, as in Colab, where only the notebook file
is fetched and so the URL has to be written into it.

The install cell installs nothing where this book's package already imports (locally, nbval,
Binder): ``import wormhole`` must succeed *and* be the distribution ``wormhole-maml``, whose
version it reports (another distribution on PyPI ships a module named ``wormhole``). Elsewhere
it installs ``wormhole-maml[mnist] @ git+URL@REF``, pinned to the package the book was built with:

* ``REF`` (:func:`build_ref`) is a release tag ``vX.Y.Z`` on ``HEAD``, else one on the package's
  last commit, else that commit's hash. The package's last commit is the newest commit that
  changed the package's files (:data:`PACKAGE_PATHS`), so its package is byte for byte the one
  at ``HEAD``. A pin to ``HEAD`` itself could never be committed (committing the pin makes a new
  ``HEAD``), and it would change every chapter on every commit, so the build's fingerprint would
  execute them all afresh after a README change; the package's last commit moves only with the package.
* ``tools/build_book.py`` writes it (:func:`pin_notebooks`) before anything executes, so the
  built book's notebooks install the package its pages show; commit the rewritten notebooks.

``python tools/repository.py``            print the configured URL
``python tools/repository.py set URL``    write URL into _config.yml and every notebook's install cell
``python tools/repository.py check``      exit 1 if a notebook's install cell disagrees with _config.yml
``python tools/repository.py ref``        print the ref the build pins (see above)
``python tools/repository.py pin [REF]``  pin every notebook's install cell to REF (default: the build's)

``make book REPOSITORY=URL`` runs ``set`` before building; commit the result in your fork so that
the launch buttons and the install cells of the published notebooks point at it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "_config.yml"
NOTEBOOKS = ROOT / "notebooks"
DISTRIBUTION = "wormhole-maml"
#: the extra a chapter needs beyond the package in a fresh environment (the MNIST chapter's offline digits)
EXTRAS = "[mnist]"
#: the files that make up the package: the pin is the last commit that changed one of them
PACKAGE_PATHS = ("wormhole", "pyproject.toml")
INSTALL_CELL_ID = "install-wormhole"
INSTALL_CELL_TAGS = ["remove-cell"]  # not shown in the book; present in the downloaded notebook
_URL_LINE = re.compile(r"^(repository:\s*\n(?:[ \t]+.*\n)*?[ \t]+url:[ \t]*)(\S+)(.*)$", re.MULTILINE)
_URL_OK = re.compile(r"^https?://[^@\s]+[^/@\s]$|^file://[^@\s]+$")
#: what a pin may be: a release tag or a full commit hash
REF_OK = re.compile(r"^(v\d+\.\d+\.\d+|[0-9a-f]{40})$")
_RELEASE = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")
_REQUIREMENT = re.compile(rf'"{re.escape(DISTRIBUTION)}(?:\[[^\]]*\])? @ git\+([^"@\s]+)(?:@([^"@\s]+))?"')


def configured_url(config: Path = CONFIG) -> str:
    """``repository.url`` from ``_config.yml``."""
    match = _URL_LINE.search(config.read_text(encoding="utf-8"))
    if not match:
        raise ValueError(f"{config}: no repository.url")
    return match.group(2).strip("\"'")


def install_source(url: str, ref: str) -> str:
    """The source of the install cell that each notebook starts its code with: ``url`` at ``ref``."""
    if not REF_OK.match(ref):
        raise ValueError(f"not a release tag vX.Y.Z or a full commit hash: {ref!r}")
    return (
        "# Colab or another fresh environment: install the package this book\n"
        "# was built with, unless it is here (this book's distribution, not\n"
        "# another one's module of the same name).\n"
        "import importlib, importlib.metadata, sys\n"
        "try:\n"
        "    import wormhole\n"
        f'    version = importlib.metadata.version("{DISTRIBUTION}")\n'
        '    ours = getattr(wormhole, "__version__", None) == version\n'
        "except ImportError:\n"
        "    ours = False\n"
        "if not ours:\n"
        f'    %pip install -q "{DISTRIBUTION}{EXTRAS} @ git+{url}@{ref}"\n'
        '    for name in [m for m in sys.modules if m.split(".")[0] == "wormhole"]:\n'
        "        del sys.modules[name]  # the next import reads the new package\n"
        "    importlib.invalidate_caches()"
    )


def install_url(source: str) -> str | None:
    """The repository URL an install cell's source installs from (None if there is none)."""
    match = _REQUIREMENT.search(source)
    return match.group(1) if match else None


def install_ref(source: str) -> str | None:
    """The ref (tag or commit) an install cell's source pins (None if it pins none)."""
    match = _REQUIREMENT.search(source)
    return match.group(2) if match else None


def _git(root: Path, *args: str) -> str | None:
    """``git args`` in ``root``: its output, or None where git or the repository is missing."""
    try:
        result = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False)
    except OSError:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def _release_tag(root: Path, commit: str) -> str | None:
    """The highest release tag ``vX.Y.Z`` pointing at ``commit``, if any."""
    tags = [t for t in (_git(root, "tag", "--points-at", commit) or "").split() if _RELEASE.match(t)]
    return max(tags, key=lambda t: tuple(map(int, _RELEASE.match(t).groups())), default=None)


def build_ref(root: Path = ROOT) -> str | None:
    """The ref the install cells pin for a build of the repository at ``root`` (see the module's
    docstring): a release tag on ``HEAD`` or on the package's last commit, else that commit's
    hash; None where ``root`` is not a git checkout with a commit."""
    head = _git(root, "rev-parse", "--verify", "-q", "HEAD^{commit}")
    if not head or _git(root, "rev-parse", "--show-toplevel") is None:
        return None
    package = _git(root, "log", "-1", "--format=%H", "HEAD", "--", *PACKAGE_PATHS) or head
    return _release_tag(root, head) or _release_tag(root, package) or package


def package_is_dirty(root: Path = ROOT) -> bool:
    """Whether the package's files in ``root`` differ from ``HEAD`` (then no commit holds the package built)."""
    return bool(_git(root, "status", "--porcelain", "--", *PACKAGE_PATHS))


def notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    return sorted(folder.glob("*.ipynb"))


def _first_code_cell(nb):
    return next((c for c in nb.cells if c.cell_type == "code"), None)


def _read_install_ref(path: Path) -> str | None:
    import nbformat

    cell = _first_code_cell(nbformat.read(path, as_version=4))
    return install_ref(cell.source) if cell is not None and cell.get("id") == INSTALL_CELL_ID else None


def stamp_notebook(path: Path, url: str, ref: str | None = None) -> bool:
    """Make the notebook's first code cell the install cell for ``url`` at ``ref`` (default: the ref
    it pins now, else :func:`build_ref`); True if the file changed."""
    import nbformat

    text = path.read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=4)
    cell = _first_code_cell(nb)
    if cell is None or cell.get("id") != INSTALL_CELL_ID:
        cell = nbformat.v4.new_code_cell(id=INSTALL_CELL_ID)
        first = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
        nb.cells.insert(first, cell)
    ref = ref or install_ref(cell.source) or build_ref(path.parent)
    if ref is None:
        raise ValueError(f"{path}: no ref to pin the install cell to (not a git checkout); pass one")
    cell.source = install_source(url, ref)
    cell.metadata["tags"] = list(INSTALL_CELL_TAGS)
    cell.outputs, cell.execution_count = [], None
    new = nbformat.writes(nb) + "\n"
    if new != text:
        path.write_text(new, encoding="utf-8")
        return True
    return False


def pin_notebooks(ref: str | None = None, root: Path = ROOT) -> tuple[str | None, list[Path]]:
    """Pin the install cell of every notebook in ``root/notebooks`` that has one to ``ref`` (default:
    :func:`build_ref` of ``root``). Returns the ref and the notebooks changed; ``(None, [])`` where
    there is no ref (not a git checkout) or no configured URL, and nothing is written."""
    ref = ref or build_ref(root)
    config = root / "_config.yml"
    if ref is None or not config.exists() or not _URL_LINE.search(config.read_text(encoding="utf-8")):
        return None, []
    import nbformat

    url, changed = configured_url(config), []
    for path in notebooks(root / "notebooks"):
        cell = _first_code_cell(nbformat.read(path, as_version=4))
        if cell is not None and cell.get("id") == INSTALL_CELL_ID and stamp_notebook(path, url, ref):
            changed.append(path)
    return ref, changed


def set_url(url: str, config: Path = CONFIG, folder: Path = NOTEBOOKS) -> list[Path]:
    """Write ``url`` into ``_config.yml`` and every notebook's install cell (keeping each cell's
    pin); the files changed."""
    url = url.strip()
    if not _URL_OK.match(url):
        raise ValueError(f"not a repository URL (https://host/owner/name, no trailing slash): {url!r}")
    changed = []
    text = config.read_text(encoding="utf-8")
    if not _URL_LINE.search(text):
        raise ValueError(f"{config}: no repository.url")
    new = _URL_LINE.sub(lambda m: m.group(1) + url + m.group(3), text, count=1)
    if new != text:
        config.write_text(new, encoding="utf-8")
        changed.append(config)
    changed += [p for p in notebooks(folder) if stamp_notebook(p, url)]
    return changed


def mismatches(config: Path = CONFIG, folder: Path = NOTEBOOKS) -> list[str]:
    """Notebooks whose first code cell is not the install cell for the configured URL, pinned to a
    release tag or commit (the same one in every notebook)."""
    import nbformat

    url, problems, refs = configured_url(config), [], set()
    for path in notebooks(folder):
        cell = _first_code_cell(nbformat.read(path, as_version=4))
        if cell is None or cell.get("id") != INSTALL_CELL_ID:
            problems.append(f"{path.name}: the first code cell is not the install cell")
            continue
        if install_url(cell.source) != url:
            problems.append(f"{path.name}: installs from {install_url(cell.source)}, _config.yml says {url}")
        ref = install_ref(cell.source)
        if ref is None or not REF_OK.match(ref):
            problems.append(f"{path.name}: the install cell pins no release tag or commit ({ref})")
        elif cell.source != install_source(url, ref):
            problems.append(f"{path.name}: the install cell is not the one tools/repository.py writes")
        refs.add(ref)
    if len(refs) > 1:
        problems.append(f"the notebooks pin different refs: {sorted(map(str, refs))}")
    return problems


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print(configured_url())
        return 0
    if argv[0] == "set" and len(argv) == 2:
        for path in set_url(argv[1]):
            print(f"repository URL written to {path.relative_to(ROOT)}")
        return 0
    if argv[0] == "check" and len(argv) == 1:
        problems = mismatches()
        print("\n".join(problems) or f"all notebooks install from {configured_url()}")
        return 1 if problems else 0
    if argv[0] == "ref" and len(argv) == 1:
        ref = build_ref()
        print(ref or "no ref: not a git checkout with a commit", file=sys.stdout if ref else sys.stderr)
        return 0 if ref else 1
    if argv[0] == "pin" and len(argv) <= 2:
        ref, changed = pin_notebooks(argv[1] if len(argv) == 2 else None)
        if ref is None:
            print("no ref to pin: not a git checkout with a commit (pass one: pin REF)", file=sys.stderr)
            return 1
        for path in changed:
            print(f"install cell pinned to {ref} in {path.relative_to(ROOT)}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
