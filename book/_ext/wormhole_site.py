"""Small fixes to the HTML that Jupyter Book 1.x writes, found by tests/test_browser.py.

* Some extensions (sphinx-thebe, sphinx-togglebutton) register their inline configuration script
  twice, so every page declared ``const THEBE_JS_URL`` twice and logged
  ``SyntaxError: Identifier 'THEBE_JS_URL' has already been declared``. Each script is now
  written once.
* pydata-sphinx-theme reads the colour mode from ``default_mode``, which Jupyter Book leaves
  empty, and logs ``Got invalid theme mode``; it is set to ``auto`` (follow the system).

Loaded through ``sphinx.local_extensions`` in _config.yml.
"""

from __future__ import annotations


def _key(asset) -> tuple:
    attributes = getattr(asset, "attributes", {}) or {}
    # an inline script is registered once with filename None and once with "" (Sphinx's registry and
    # the builder), so both count as "no file"
    filename = getattr(asset, "filename", str(asset)) or ""
    return (filename, tuple(sorted((k, str(v)) for k, v in attributes.items())))


def _once(assets) -> list:
    """``assets`` without repeats (the same file or inline body with the same attributes),
    each kept where it first comes with its lowest priority."""
    kept: dict[tuple, object] = {}
    for asset in assets:
        key = _key(asset)
        if key not in kept or getattr(asset, "priority", 500) < getattr(kept[key], "priority", 500):
            kept[key] = asset
    return list(kept.values())


def write_each_script_once(app, pagename, templatename, context, doctree):
    for name in ("script_files", "css_files"):
        assets = context.get(name)
        if isinstance(assets, list):
            assets[:] = _once(assets)   # in place: the builder's own list


def default_colour_mode(app, config):
    config.html_context.setdefault("default_mode", "auto")


def setup(app):
    app.connect("config-inited", default_colour_mode)
    app.connect("html-page-context", write_each_script_once, priority=999)  # after the extensions add theirs
    return {"parallel_read_safe": True, "parallel_write_safe": True}


# -- the execution-times page --------------------------------------------------------------------
import os  # noqa: E402
import time  # noqa: E402

from docutils import nodes  # noqa: E402
from sphinx.addnodes import pending_xref  # noqa: E402
from sphinx.transforms.post_transforms import SphinxPostTransform  # noqa: E402
from sphinx.util.docutils import SphinxDirective  # noqa: E402

TIMINGS_PAGE = "book/timings"


class timings_placeholder(nodes.General, nodes.Element):
    pass


class TimingsDirective(SphinxDirective):
    """``{wormhole-timings}``: each chapter's execution time in this build and whether it ran
    without an error, from myst-nb's execution records (replaces ``{nb-exec-table}``, whose ✅
    reads as "its checks passed" and is kept for a chapter served from an older cache)."""

    def run(self):
        return [timings_placeholder()]


def _exec_data(env) -> dict:
    from myst_nb.sphinx_ import NbMetadataCollector

    return {doc: data["exec_data"] for doc, data in NbMetadataCollector.get_doc_data(env).items()
            if data.get("exec_data")}


#: when this build started (seconds since the epoch): tools/build_book.py sets it before it executes
#: chapters ahead; a plain ``jupyter-book build`` starts when Sphinx loads this extension
BUILD_STARTED = float(os.environ.get("WORMHOLE_BUILD_STARTED", time.time()))


def _executed_in_this_build(data: dict) -> bool:
    """Whether a chapter's execution record is from this build: myst-nb's ``method`` is the
    execution mode ("cache" for a fresh execution too), so the record's time decides."""
    return data.get("method") != "cache" or (data.get("mtime") or 0.0) >= BUILD_STARTED


def _table(header: tuple) -> tuple:
    """An empty docutils table with ``header`` (equal columns): ``(table, body)`` to add rows to."""
    table = nodes.table(classes=["colwidths-auto"])
    group = nodes.tgroup(cols=len(header))
    table += group
    for _ in header:
        group += nodes.colspec(colwidth=25)
    head = nodes.thead()
    group += head
    row = nodes.row()
    for name in header:
        row += nodes.entry("", nodes.paragraph(text=name))
    head += row
    body = nodes.tbody()
    group += body
    return table, body


class TimingsTransform(SphinxPostTransform):
    default_priority = 8  # before the references are resolved

    def run(self, **kwargs):
        env = self.env
        records = _exec_data(env)
        for node in list(self.document.findall(timings_placeholder)):
            longest = _cell_times()
            table, body = _table(("Chapter", "Seconds", "Longest cell", "Executed", "Outcome"))
            total, failed = 0.0, 0
            for doc in sorted(records):   # file order = chapter order
                data = records[doc]
                row = nodes.row()
                number = ".".join(map(str, env.toc_secnumbers.get(doc, {}).get("", ())))
                link = pending_xref(refdoc=env.docname, reftarget="/" + doc, reftype="doc", refdomain="std",
                                    refexplicit=False, refwarn=True)
                link += nodes.inline(text=doc)
                cell = nodes.paragraph()
                if number:
                    cell += nodes.Text(f"{number}. ")
                cell += link
                row += nodes.entry("", cell)
                runtime = data.get("runtime")
                total += runtime or 0.0
                row += nodes.entry("", nodes.paragraph(text="–" if runtime is None else f"{runtime:.0f}"))
                cell_time = longest.get(doc.rsplit("/", 1)[-1])
                row += nodes.entry("", nodes.paragraph(text="–" if cell_time is None else (
                    f"{cell_time['seconds']:.0f} s (cell {cell_time['cell']}; limit {cell_time['limit']} s)")))
                row += nodes.entry("", nodes.paragraph(
                    text="in this build" if _executed_in_this_build(data) else "from the cache (unchanged code)"))
                if data.get("succeeded"):
                    outcome = "every cell ran, every check passed"
                else:
                    failed += 1
                    outcome = "FAILED: " + (str(data.get("error") or "a cell raised").splitlines() or ["error"])[-1][:120]
                row += nodes.entry("", nodes.paragraph(text=outcome))
                body += row
            mode = "quick mode (tiny sizes)" if os.environ.get("WORMHOLE_QUICK") == "1" else "full scale"
            jobs = int(os.environ.get("WORMHOLE_BUILD_JOBS", "1"))
            side_by_side = (f" (tools/build_book.py ran up to {jobs} chapters side by side, so the build took "
                            "less wall-clock time than this sum)" if jobs > 1 else "")
            summary = nodes.paragraph(text=(
                f"All chapters: {total:.0f} s ({total / 60:.1f} min) of execution at {mode}, on "
                f"{os.cpu_count()} CPU cores of the machine that built this book{side_by_side}"
                + (f"; {failed} chapter(s) failed." if failed else ".")
                + (f" The longest single cell ran {max(c['seconds'] for c in longest.values()):.0f} s; the build "
                   f"allows each cell {max(c['limit'] for c in longest.values())} s, and no cell should need more "
                   "than half of that, so that a machine half as fast still builds the book." if longest else "")))
            node.replace_self([summary, table, *_phase_tables(records)])


def _cell_times() -> dict:
    """``{chapter: {"cell", "seconds", "limit"}}``: each chapter's longest cell, recorded by
    tools/build_book.py as it executed the chapter (``WORMHOLE_CELL_TIMES``); empty without it."""
    import json
    from pathlib import Path

    path = os.environ.get("WORMHOLE_CELL_TIMES")
    return json.loads(Path(path).read_text()) if path and Path(path).is_file() else {}


def _phase_records() -> dict:
    """``{chapter: {phase: {"seconds", "calls"}}}`` from the ``timing-<chapter>.json`` files the
    chapters saved beside their metrics (``wormhole.book.save_timing``) in this build."""
    import json
    from pathlib import Path

    folder = os.environ.get("WORMHOLE_METRICS_DIR")
    if not folder or not Path(folder).is_dir():
        return {}
    out = {}
    for path in sorted(Path(folder).glob("timing-*.json")):
        data = json.loads(path.read_text())
        out[data["chapter"]] = data["phases"]
    return out


def _phase_tables(records: dict) -> list:
    """Per chapter that timed its phases: where its time went, longest phase first, with the rest
    of the chapter (figures, set-up, its own cells) as the remainder."""
    phases = _phase_records()
    if not phases:
        return []
    out = [nodes.paragraph(text=(
        "Where each chapter's time went, from timers the package records as it runs (wormhole.timing; "
        "a phase nested in another, such as the gradient conflict logged during training, counts "
        "only in the inner one). The rest is the chapter's own cells: figures, set-up and the "
        "package defaults of Part 1 where they are not timed."))]
    for doc in sorted(records):
        chapter = doc.rsplit("/", 1)[-1]
        if chapter not in phases:
            continue
        runtime = records[doc].get("runtime") or 0.0
        rows = [(name, p["seconds"], p["calls"]) for name, p in phases[chapter].items()]
        timed = sum(r[1] for r in rows)
        rows.append(("the rest of the chapter", max(runtime - timed, 0.0), None))
        table, body = _table((chapter, "Seconds", "Share", "Calls"))
        for name, seconds, calls in rows:
            row = nodes.row()
            share = f"{seconds / runtime:.0%}" if runtime else "–"
            for text in (name, f"{seconds:.0f}", share, "–" if calls is None else str(calls)):
                row += nodes.entry("", nodes.paragraph(text=text))
            body += row
        out.append(table)
    return out


def always_refresh_timings(app, env, added, changed, removed):
    return [TIMINGS_PAGE] if TIMINGS_PAGE in env.found_docs else []


def _setup_timings(app):
    app.add_node(timings_placeholder)
    app.add_directive("wormhole-timings", TimingsDirective)
    app.add_post_transform(TimingsTransform)
    app.connect("env-get-outdated", always_refresh_timings)


_plain_setup = setup


def setup(app):  # noqa: F811 - the page fixes above, plus the timings table
    _setup_timings(app)
    return _plain_setup(app)
