"""The book's repository URL: one setting, read from ``_config.yml`` and stamped where it is needed.

``repository.url`` in ``_config.yml`` is the only place the URL is set. Jupyter Book reads it
for the repository and launch buttons (Binder, Colab); each notebook's first code cell
(``INSTALL_CELL_ID``) installs the package from it when ``import wormhole`` fails, as in Colab,
where only the notebook file is fetched and so the URL has to be written into it.

``python tools/repository.py``            print the configured URL
``python tools/repository.py set URL``    write URL into _config.yml and every notebook's install cell
``python tools/repository.py check``      exit 1 if a notebook's install cell disagrees with _config.yml

``make book REPOSITORY=URL`` runs ``set`` before building; commit the result in your fork so that
the launch buttons and the install cells of the published notebooks point at it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "_config.yml"
NOTEBOOKS = ROOT / "notebooks"
DISTRIBUTION = "wormhole-maml"
INSTALL_CELL_ID = "install-wormhole"
INSTALL_CELL_TAGS = ["remove-cell"]  # not shown in the book; present in the downloaded notebook
_URL_LINE = re.compile(r"^(repository:\s*\n(?:[ \t]+.*\n)*?[ \t]+url:[ \t]*)(\S+)(.*)$", re.MULTILINE)
_URL_OK = re.compile(r"^https?://\S+[^/]$|^file://\S+$")


def configured_url(config: Path = CONFIG) -> str:
    """``repository.url`` from ``_config.yml``."""
    match = _URL_LINE.search(config.read_text(encoding="utf-8"))
    if not match:
        raise ValueError(f"{config}: no repository.url")
    return match.group(2).strip("\"'")


def install_source(url: str) -> str:
    """The source of the install cell that each notebook starts its code with."""
    return (
        "# Colab or another fresh environment: install the book's package from the book's repository.\n"
        "try:\n"
        "    import wormhole\n"
        "except ImportError:\n"
        f'    %pip install -q "{DISTRIBUTION} @ git+{url}"'
    )


def install_url(source: str) -> str | None:
    """The repository URL an install cell's source installs from (None if there is none)."""
    match = re.search(rf'{re.escape(DISTRIBUTION)} @ git\+([^"\s]+)"', source)
    return match.group(1) if match else None


def notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    return sorted(folder.glob("*.ipynb"))


def _first_code_cell(nb):
    return next((c for c in nb.cells if c.cell_type == "code"), None)


def stamp_notebook(path: Path, url: str) -> bool:
    """Make the notebook's first code cell the install cell for ``url``; True if the file changed."""
    import nbformat

    text = path.read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=4)
    cell = _first_code_cell(nb)
    if cell is None or cell.get("id") != INSTALL_CELL_ID:
        cell = nbformat.v4.new_code_cell(id=INSTALL_CELL_ID)
        first = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
        nb.cells.insert(first, cell)
    cell.source = install_source(url)
    cell.metadata["tags"] = list(INSTALL_CELL_TAGS)
    cell.outputs, cell.execution_count = [], None
    new = nbformat.writes(nb) + "\n"
    if new != text:
        path.write_text(new, encoding="utf-8")
        return True
    return False


def set_url(url: str, config: Path = CONFIG, folder: Path = NOTEBOOKS) -> list[Path]:
    """Write ``url`` into ``_config.yml`` and every notebook's install cell; the files changed."""
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
    """Notebooks whose first code cell is not the install cell for the configured URL."""
    import nbformat

    url, problems = configured_url(config), []
    for path in notebooks(folder):
        cell = _first_code_cell(nbformat.read(path, as_version=4))
        if cell is None or cell.get("id") != INSTALL_CELL_ID:
            problems.append(f"{path.name}: the first code cell is not the install cell")
        elif install_url(cell.source) != url:
            problems.append(f"{path.name}: installs from {install_url(cell.source)}, _config.yml says {url}")
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
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
