"""wormhole.book's helpers for the chapters: what a glued value pastes as on the page."""

import pytest

from wormhole.book import _Pasted

format_plain_text = pytest.importorskip("myst_nb.core.variables").format_plain_text


@pytest.mark.parametrize("text", ["5,000", "1, 2", "0.25", "(3)", "none", "'quoted'", "mixed (4 of 10)", "[1]"])
def test_glued_text_pastes_as_itself(text):
    # {glue:text} formats the text/plain representation; {glue:md} the Markdown one
    pasted = _Pasted(text)
    assert format_plain_text(repr(pasted), "s") == text
    assert format_plain_text(repr(pasted), "") == text
    assert pasted._repr_markdown_() == text
