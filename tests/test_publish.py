"""`make publish` turns a built site into a gh-pages branch and pushes it (ghp-import).

The push goes to a bare repository in tmp_path (``REMOTE=``), and ghp-import writes its
gh-pages branch into a scratch repository (``GIT_DIR``), so the project's own repository is
left alone.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.skipif(shutil.which("git") is None or shutil.which("make") is None, reason="needs git and make")


def _git(*args, **kwargs):
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True, **kwargs).stdout


def _publish(tmp_path, site, remote):
    scratch = tmp_path / "scratch"
    if not scratch.exists():
        _git("init", "-q", str(scratch))
    env = dict(os.environ, GIT_DIR=str(scratch / ".git"), GIT_COMMITTER_NAME="test", GIT_COMMITTER_EMAIL="test@example.org",
               GIT_AUTHOR_NAME="test", GIT_AUTHOR_EMAIL="test@example.org")
    env.pop("GIT_WORK_TREE", None)
    return subprocess.run(["make", "--no-print-directory", "-o", ".venv/.installed", "publish", f"BIN={BIN}",
                           f"SITE={site}", f"REMOTE={remote}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_make_publish_pushes_gh_pages(tmp_path):
    site = tmp_path / "html"
    (site / "_static").mkdir(parents=True)
    (site / "index.html").write_text("<!doctype html><title>book</title>", encoding="utf-8")
    (site / "_static" / "book.css").write_text("body {}", encoding="utf-8")
    remote = tmp_path / "site.git"
    _git("init", "-q", "--bare", str(remote))
    result = _publish(tmp_path, site, remote)
    assert result.returncode == 0, result.stdout + result.stderr
    files = _git("--git-dir", str(remote), "ls-tree", "-r", "--name-only", "gh-pages").split()
    assert {"index.html", ".nojekyll", "_static/book.css"} <= set(files)
    assert _git("--git-dir", str(remote), "show", "gh-pages:index.html") == "<!doctype html><title>book</title>"

    # publishing again replaces the site
    (site / "index.html").write_text("<!doctype html><title>book, v2</title>", encoding="utf-8")
    assert _publish(tmp_path, site, remote).returncode == 0
    assert "v2" in _git("--git-dir", str(remote), "show", "gh-pages:index.html")


def test_publish_without_a_build_says_so(tmp_path):
    remote = tmp_path / "site.git"
    _git("init", "-q", "--bare", str(remote))
    result = _publish(tmp_path, tmp_path / "missing", remote)
    assert result.returncode != 0 and "make book" in result.stderr
    assert "gh-pages" not in _git("--git-dir", str(remote), "branch", "--list")
