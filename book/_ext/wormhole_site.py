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
    return (getattr(asset, "filename", str(asset)), tuple(sorted((k, str(v)) for k, v in attributes.items())))


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
        if isinstance(context.get(name), list):
            context[name] = _once(context[name])


def default_colour_mode(app, config):
    config.html_context.setdefault("default_mode", "auto")


def setup(app):
    app.connect("config-inited", default_colour_mode)
    app.connect("html-page-context", write_each_script_once, priority=900)  # after the extensions add theirs
    return {"parallel_read_safe": True, "parallel_write_safe": True}
