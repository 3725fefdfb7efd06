"""What a chapter shows under a cell: narrow HTML tables, folded long text, numbers or "n/a".

A book page's text column holds about 80 characters of printed output; wider ``print`` output is
cut off at its right edge (tests/test_browser.py checks every page). Chapters therefore show

* results tables with :func:`table` (an HTML table that wraps its cells to the column; plain text
  in a terminal), e.g. ``wh.display.table(rows, header=[...], note="...")`` or
  :meth:`wormhole.experiments.Comparison.table`;
* long text (verdict lists, per-seed dumps) with :func:`folded`: a collapsed ``<details>`` block
  whose one-line summary is always visible and whose lines wrap when opened;
* numbers through :func:`number` / :func:`mean_pm` / :func:`over_seeds`, which follow the book's
  one rule for showing a number (:mod:`wormhole.numbers`): ``n/a (reason)`` where a number does
  not apply (no accuracy for a regression task, no flipped tasks in a control family) instead
  of ``nan``, and ``diverged`` (``diverged on k of n seeds``) where a run blew up, never its
  digits; figures draw values through :func:`hide_diverged`.

The name and direction of the conflict measure, the same in every table and figure, are
:data:`AGREEMENT` (long) and :data:`AGREEMENT_SHORT` (a column header).
"""

from __future__ import annotations

import html
import textwrap
from typing import Iterable, Sequence

import numpy as np

from .numbers import DIVERGED_ABOVE, _finite, hide_diverged, is_diverged, mean_pm, number  # noqa: F401 (re-exported)

#: the conflict measure: mean pairwise cosine of the tasks' meta-gradients (logged as ``"conflict"``)
AGREEMENT = "gradient agreement (mean cosine of task meta-gradients; higher = less conflict, < 0 = conflict)"
#: its column header and axis label
AGREEMENT_SHORT = "grad. agreement ↑"
#: what a table note says about it
AGREEMENT_NOTE = ("grad. agreement: mean cosine between the tasks' meta-gradients "
                  "(+1 all agree, 0 unrelated, < 0 conflict; higher = less conflict)")

_STYLE = ("font-size: 0.85em; border-collapse: collapse; max-width: 100%; table-layout: auto; "
          "overflow-wrap: anywhere; margin: 0.3em 0")
_CELL = "padding: 0.15em 0.5em; border-bottom: 1px solid #ddd; text-align: {align}; vertical-align: top"
_PRE = "white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.85em; margin: 0.3em 0 0 0"


def over_seeds(values, digits: int = 3, signed: bool = False) -> str:
    """Per-seed ``values`` as ``"0.123 ± 0.004"`` (mean ± 95% CI), or, where some seeds diverged
    (:func:`is_diverged`), ``"diverged on 2 of 5 seeds (median of the others 0.41)"``: never
    digits of a blown-up run, never ``nan``."""
    from .stats import mean_ci

    v = np.asarray(values, dtype=np.float64).ravel()
    bad = is_diverged(v)
    if not bad.any():
        return mean_pm(*mean_ci(v), digits=digits, signed=signed)
    text = f"diverged on {int(bad.sum())} of {v.size} seed{'s' if v.size > 1 else ''}"
    if (~bad).any():
        text += f" (median of the others {float(np.median(v[~bad])):{'+' if signed else ''}.{digits}f})"
    return text


def percent(value, reason: str = "", digits: int = 0) -> str:
    """``"37%"``, or ``"n/a (reason)"`` when ``value`` is not a number (e.g. no such tasks)."""
    if not _finite(value):
        return f"n/a ({reason})" if reason else "n/a"
    return f"{100 * float(value):.{digits}f}%"


class Table:
    """A table that Jupyter (and the book) shows as a narrow HTML table and a terminal as text.

    ``rows``: sequences of cells (strings or numbers); ``header``: column names; ``title``: a
    caption above; ``note``: a line below (units, sign conventions, what n/a means)."""

    def __init__(self, rows: Iterable[Sequence], header: Sequence[str] | None = None, title: str = "",
                 note: str = ""):
        self.rows = [[c if isinstance(c, str) else _cell(c) for c in row] for row in rows]
        self.header = list(header) if header is not None else None
        self.title, self.note = title, note

    def _repr_html_(self) -> str:
        def cells(row, tag):
            # a header breaks between words only ("Wormhole", never "Wormhol e"); the body may
            # break anywhere so that a long name never pushes the table past the column
            extra = "; overflow-wrap: normal; word-break: normal" if tag == "th" else ""
            return "".join(f'<{tag} style="{_CELL.format(align="left" if i == 0 else "right")}{extra}">'
                           f"{html.escape(str(c))}</{tag}>" for i, c in enumerate(row))
        out = [f'<table class="wormhole-table" style="{_STYLE}">']
        if self.title:
            out.append(f'<caption style="caption-side: top; text-align: left; font-weight: bold">'
                       f"{html.escape(self.title)}</caption>")
        if self.header:
            out.append(f"<thead><tr>{cells(self.header, 'th')}</tr></thead>")
        out.append("<tbody>" + "".join(f"<tr>{cells(r, 'td')}</tr>" for r in self.rows) + "</tbody></table>")
        if self.note:
            out.append(f'<p style="font-size: 0.8em; margin: 0.1em 0 0.6em 0">{html.escape(self.note)}</p>')
        return "".join(out)

    def __str__(self) -> str:
        rows = ([self.header] if self.header else []) + self.rows
        widths = [max(len(str(r[i])) for r in rows if i < len(r)) for i in range(max(map(len, rows)))]
        lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        return "\n".join(([self.title] if self.title else []) + lines + ([self.note] if self.note else []))

    __repr__ = __str__


def _cell(value) -> str:
    if isinstance(value, (float, np.floating)):
        return number(value)
    return str(value)


def table(rows, header=None, title: str = "", note: str = "") -> Table:
    """A :class:`Table`: make it a cell's last expression (or pass it to ``display``)."""
    return Table(rows, header, title, note)


class Folded:
    """Long text folded into a collapsed block: ``summary`` shows, the text opens on a click
    (its lines wrap to the column). A terminal shows the summary and the text."""

    def __init__(self, text: str, summary: str, open: bool = False):
        self.text, self.summary, self.open = text, summary, open

    def _repr_html_(self) -> str:
        return (f'<details class="wormhole-folded"{" open" if self.open else ""}><summary>{html.escape(self.summary)}'
                f'</summary><pre style="{_PRE}">{html.escape(self.text)}</pre></details>')

    def __str__(self) -> str:
        return f"{self.summary}\n{self.text}"

    __repr__ = __str__


def folded(text: str | Iterable[str], summary: str, open: bool = False) -> Folded:
    """A :class:`Folded` block (``text``: a string or lines); make it a cell's last expression."""
    if not isinstance(text, str):
        text = "\n".join(map(str, text))
    return Folded(text, summary, open)


class Text:
    """Plain text that wraps to the column in the book (``print`` output does not)."""

    def __init__(self, text: str):
        self.text = text

    def _repr_html_(self) -> str:
        return f'<pre style="{_PRE}">{html.escape(self.text)}</pre>'

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__


def text(*lines: str, width: int = 78) -> Text:
    """Lines of text that wrap at the column (and at ``width`` characters in a terminal)."""
    return Text("\n".join(textwrap.fill(line, width, subsequent_indent="  ", break_on_hyphens=False)
                          if len(line) > width else line for line in lines))


def show(*objects) -> None:
    """Display each object (a table, a folded block, text) under the cell, in order."""
    try:
        from IPython.display import display
    except ImportError:  # a plain Python session
        for o in objects:
            print(o)
        return
    display(*objects)
