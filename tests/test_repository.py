"""One repository URL: _config.yml's repository.url, copied into every notebook's install cell."""

import json
import os
import shutil
import subprocess
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
    ref = repository.install_ref(cell.source)
    assert ref and repository.REF_OK.match(ref), f"{path.name}: the install cell pins no release tag or commit: {ref}"
    assert f'"wormhole-maml[mnist] @ git+{repository.configured_url()}@{ref}"' in cell.source
    assert cell.source == repository.install_source(repository.configured_url(), ref)


def test_every_notebook_pins_the_same_ref():
    assert repository.mismatches() == []


def _git(cwd, *args):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def test_the_pinned_ref_is_in_this_repository_history():
    """The committed notebooks pin a commit (or tag) of this repository, at or before HEAD: one that
    exists where Colab fetches the package. The build re-pins them (tools/build_book.py)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (an sdist or an exported tree)")
    if _git(ROOT, "rev-parse", "--is-shallow-repository") == "true":
        pytest.skip("a shallow clone lacks the history (CI checks out with fetch-depth: 0)")
    refs = {repository.install_ref(c.source) for p in NOTEBOOKS for c in nbformat.read(p, as_version=4).cells
            if c.get("id") == repository.INSTALL_CELL_ID}
    assert len(refs) == 1, refs
    ref = refs.pop()
    commit = subprocess.run(["git", "rev-parse", "--verify", "-q", f"{ref}^{{commit}}"], cwd=ROOT,
                            capture_output=True, text=True)
    assert commit.returncode == 0, f"the install cells pin {ref}, which this repository does not have"
    merge = subprocess.run(["git", "merge-base", "--is-ancestor", commit.stdout.strip(), "HEAD"], cwd=ROOT)
    assert merge.returncode == 0, f"the install cells pin {ref}, which is not an ancestor of HEAD"


def _run_install_cell(source, modules=None, version="0.1.0"):
    """Execute an install cell with a stand-in IPython (recording %pip) and, optionally, stand-ins
    for sys.modules entries and for the installed distribution's version (None: not installed)."""
    import importlib.metadata
    from unittest import mock

    from IPython.core.inputtransformer2 import TransformerManager

    code = TransformerManager().transform_cell(source)
    calls = []
    namespace = {"get_ipython": lambda: type("IP", (), {"run_line_magic": lambda self, *a: calls.append(a)})()}

    def fake_version(name):
        if name != "wormhole-maml" or version is None:
            raise importlib.metadata.PackageNotFoundError(name)
        return version

    with mock.patch.dict(sys.modules, modules or {}), mock.patch("importlib.metadata.version", fake_version):
        exec(code, namespace)
        left = {name for name in sys.modules if name.split(".")[0] == "wormhole"}
    return calls, namespace, left


def test_install_cell_does_nothing_where_wormhole_imports():
    import importlib.metadata

    import wormhole

    assert importlib.metadata.version("wormhole-maml") == wormhole.__version__  # the installed metadata is current
    code = repository.install_source(repository.configured_url(), "v1.2.3")
    calls, namespace, _ = _run_install_cell(code, version=wormhole.__version__)
    assert calls == [] and namespace["wormhole"] is wormhole and namespace["ours"] is True


def test_install_cell_installs_the_pinned_package_where_another_wormhole_imports():
    """Another distribution's module `wormhole` (PyPI has one) or none at all: the cell installs this
    book's package at the pinned ref, and forgets the other module so the next import finds the new one."""
    import types

    url, ref = repository.configured_url(), "0123456789abcdef0123456789abcdef01234567"
    code = repository.install_source(url, ref)
    other = types.ModuleType("wormhole")
    other.__version__ = "0.17.0"
    for modules, version in (({"wormhole": other, "wormhole.cli": types.ModuleType("wormhole.cli")}, None),
                             ({"wormhole": other}, "0.1.0"),          # both installed, the other's files won
                             ({"wormhole": None}, None)):             # no module wormhole at all
        calls, namespace, left = _run_install_cell(code, modules, version)
        assert len(calls) == 1 and calls[0][0] == "pip", calls
        assert calls[0][1] == f'install -q "wormhole-maml[mnist] @ git+{url}@{ref}"'
        assert namespace["ours"] is False and left == set(), left


def test_install_source_refuses_what_is_not_a_tag_or_commit():
    url = repository.configured_url()
    for ref in ("main", "abc123", "v1.2", "", "v1.2.3; rm -rf /"):
        with pytest.raises(ValueError):
            repository.install_source(url, ref)
    source = repository.install_source(url, "v0.2.0")
    assert repository.install_url(source) == url and repository.install_ref(source) == "v0.2.0"


def _repo(tmp_path):
    """A git repository holding a copy of the book's config and two notebooks, one commit."""
    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    (repo / "wormhole").mkdir()
    shutil.copy(ROOT / "_config.yml", repo / "_config.yml")
    for path in NOTEBOOKS[:2]:
        shutil.copy(path, repo / "notebooks" / path.name)
    (repo / "wormhole" / "__init__.py").write_text("")
    (repo / "pyproject.toml").write_text("")
    _git(repo, "init", "-q")
    for key, value in (("user.email", "t@example.org"), ("user.name", "t"), ("commit.gpgsign", "false")):
        _git(repo, "config", key, value)
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "package and chapters")
    return repo


def _pins(folder):
    return {p.name: repository.install_ref(next(c for c in nbformat.read(p, as_version=4).cells
                                                 if c.get("id") == repository.INSTALL_CELL_ID).source)
            for p in repository.notebooks(folder)}


@pytest.mark.skipif(shutil.which("git") is None and not os.environ.get("CI"), reason="needs git")
def test_build_ref_is_the_package_commit_or_its_release_tag(tmp_path):
    repo = _repo(tmp_path)
    package = _git(repo, "rev-parse", "HEAD")
    assert repository.build_ref(repo) == package
    assert repository.pin_notebooks(root=repo) == (package, sorted(repository.notebooks(repo / "notebooks")))
    assert set(_pins(repo / "notebooks").values()) == {package}
    assert repository.pin_notebooks(root=repo) == (package, [])  # idempotent
    # a commit that leaves the package alone (the pinned notebooks, the README) keeps the pin
    (repo / "README.md").write_text("readme\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "pinned notebooks and a README")
    assert repository.build_ref(repo) == package and repository.pin_notebooks(root=repo) == (package, [])
    # a change to the package moves it
    (repo / "wormhole" / "__init__.py").write_text("__version__ = '0.2.0'\n")
    _git(repo, "commit", "-q", "-am", "the package changes")
    changed = _git(repo, "rev-parse", "HEAD")
    assert repository.build_ref(repo) == changed != package
    # a release tag on HEAD wins (the highest one), and so does one on the package's last commit
    _git(repo, "tag", "v0.2.0")
    _git(repo, "tag", "v0.10.0")
    _git(repo, "tag", "not-a-release")
    assert repository.build_ref(repo) == "v0.10.0"
    (repo / "README.md").write_text("later\n")
    _git(repo, "commit", "-q", "-am", "docs after the release")
    assert repository.build_ref(repo) == "v0.10.0"
    ref, changed_files = repository.pin_notebooks(root=repo)
    assert ref == "v0.10.0" and set(_pins(repo / "notebooks").values()) == {"v0.10.0"} and len(changed_files) == 2
    assert repository.mismatches(repo / "_config.yml", repo / "notebooks") == []


def test_build_ref_is_none_outside_a_git_checkout(tmp_path):
    assert repository.build_ref(tmp_path) is None
    assert repository.pin_notebooks(root=tmp_path) == (None, [])


@pytest.mark.skipif(shutil.which("git") is None and not os.environ.get("CI"), reason="needs git")
def test_the_book_build_pins_the_notebooks_before_anything_executes(tmp_path, monkeypatch):
    import build_book

    repo = _repo(tmp_path)
    (repo / "_toc.yml").write_text("format: jb-book\nroot: notebooks/" + NOTEBOOKS[0].stem
                                   + "\nchapters:\n  - file: notebooks/" + NOTEBOOKS[1].stem + "\n")
    package = _git(repo, "rev-parse", "HEAD")
    assert set(_pins(repo / "notebooks").values()) != {package}
    seen = {}

    def execute_ahead(notebooks, *args, **kwargs):  # stands in for the execution; stops the build there
        seen.update(_pins(repo / "notebooks"))
        return ["stopped by the test"]

    monkeypatch.setattr(build_book, "execute_ahead", execute_ahead)
    assert build_book.main(["--quick", "--jobs", "1"], root=repo) == 1
    assert seen and set(seen.values()) == {package}


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
