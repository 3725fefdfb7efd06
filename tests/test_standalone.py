"""The repository stands on its own: no tracked file cites documents or issue numbers that a
reader of the repository cannot open (the team's design notes, an issue tracker's numbers)."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: a design document's sections, or an issue by number ("issue 9", "issue #9", "issues 9 and 12")
FORBIDDEN = re.compile(r"DESIGN(\.md)?\s*§|§\s*\d+\.\d+|\bissues?\s+#?\d+", re.IGNORECASE)
#: vendored third-party files that are quoted whole
VENDORED = ("tests/data/",)


def tracked_text_files():
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in out:
        path = ROOT / name
        if name.startswith(VENDORED) or not path.is_file() or path.suffix in (".png", ".jpg", ".pt", ".ico"):
            continue
        try:
            yield name, path.read_text()
        except UnicodeDecodeError:
            continue


def test_no_tracked_file_cites_a_document_or_issue_the_reader_cannot_open():
    hits = [f"{name}:{text[:m.start()].count(chr(10)) + 1}: {m.group(0)!r}"
            for name, text in tracked_text_files() for m in FORBIDDEN.finditer(text)
            if name != "tests/test_standalone.py"]
    assert not hits, "cites what a reader cannot open:\n" + "\n".join(hits)


def test_the_rule_sees_the_cases_it_is_for():
    for text in ("see DESIGN §6.2", "(issue 9)", "issue #12", "Issues 9 and 12", "§6.7"):
        assert FORBIDDEN.search(text), text
    for text in ("the issue's target", "an issue tracker", "ISSN 1234", "section 6"):
        assert not FORBIDDEN.search(text), text
