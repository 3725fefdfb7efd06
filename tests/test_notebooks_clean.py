"""Notebooks are stored without outputs and end by asserting their chapter's claims."""

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_chapters():
    assert len(NOTEBOOKS) >= 7


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: a cell has stored outputs"
            assert cell.execution_count is None, f"{path.name}: a cell has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_ends_with_assertions(path):
    nb = nbformat.read(path, as_version=4)
    last_code = [c for c in nb.cells if c.cell_type == "code"][-1]
    assert "assert " in last_code.source, f"{path.name}: the last code cell should assert the chapter's claims"


#: the chapters that teach by exercises (1-5): each exercise has a worked solution that runs
EXERCISED = [p for p in NOTEBOOKS if p.name[:2] in ("01", "02", "03", "04", "05")]


@pytest.mark.parametrize("path", EXERCISED, ids=[p.name for p in EXERCISED])
def test_every_exercise_has_a_solution_that_runs_in_the_build(path):
    import re

    cells = nbformat.read(path, as_version=4).cells
    starts = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and "## Exercises" in c.source]
    assert len(starts) == 1, f"{path.name}: one '## Exercises' section"
    section = []
    for c in cells[starts[0] + 1:]:
        if c.cell_type == "markdown" and "## Checks" in c.source:
            break
        section.append(c)
    exercises = [i for i, c in enumerate(section) if c.cell_type == "markdown" and re.match(r"\d+\. ", c.source)]
    assert len(exercises) >= 2, f"{path.name}: at least two exercises"
    for k, i in enumerate(exercises):
        solution = section[i + 1:exercises[k + 1] if k + 1 < len(exercises) else len(section)]
        runs = [c for c in solution if c.cell_type == "code"]
        assert runs, f"{path.name}: exercise {k + 1} has no solution cell (a code cell that runs with the book)"
        assert all("hide-cell" in c.metadata.get("tags", []) for c in runs), \
            f"{path.name}: exercise {k + 1}'s solution should be folded (tag hide-cell)"
