"""One repository URL: _config.yml's repository.url, copied into every notebook's install cell."""

import json
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import repository  # noqa: E402

NOTEBOOKS = repository.notebooks()


def test_config_names_the_repository():
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    assert url == repository.configured_url() and url.startswith("https://") and not url.endswith("/")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_first_code_cell_installs_from_the_configured_repository(path):
    cell = next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    assert cell.get("id") == repository.INSTALL_CELL_ID, f"{path.name}: the first code cell is not the install cell"
    assert repository.install_url(cell.source) == repository.configured_url()
    assert "except ImportError" in cell.source  # does nothing where wormhole imports (locally, nbval, Binder)
    assert set(repository.INSTALL_CELL_TAGS) <= set(cell.metadata.get("tags", []))


def test_install_cell_does_nothing_where_wormhole_imports():
    from IPython.core.inputtransformer2 import TransformerManager

    code = TransformerManager().transform_cell(repository.install_source(repository.configured_url()))
    calls = []
    namespace = {"get_ipython": lambda: type("IP", (), {"run_line_magic": lambda self, *a: calls.append(a)})()}
    exec(code, namespace)
    assert calls == [] and namespace["wormhole"].__name__ == "wormhole"


def test_set_url_rewrites_config_and_notebooks_only_there(tmp_path):
    shutil.copy(ROOT / "_config.yml", tmp_path / "_config.yml")
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    config, folder = tmp_path / "_config.yml", tmp_path / "notebooks"
    before = {p.name: json.loads(p.read_text()) for p in repository.notebooks(folder)}
    fork = "https://github.com/someone/wormhole-fork"
    changed = repository.set_url(fork, config, folder)
    assert config in changed and len(changed) == 1 + len(before)
    assert repository.configured_url(config) == fork and repository.mismatches(config, folder) == []
    assert yaml.safe_load(config.read_text())["repository"]["url"] == fork
    for path in repository.notebooks(folder):  # only the install cell's URL changed
        old, new = before[path.name], json.loads(path.read_text())
        assert len(old["cells"]) == len(new["cells"])
        diff = [i for i, (a, b) in enumerate(zip(old["cells"], new["cells"])) if a != b]
        assert len(diff) == 1 and new["cells"][diff[0]]["id"] == repository.INSTALL_CELL_ID
    assert repository.set_url(fork, config, folder) == []  # idempotent
    with pytest.raises(ValueError):
        repository.set_url("not a url", config, folder)
