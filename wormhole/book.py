"""What the book's chapters share and the library does not need: sizes, seeds, where metrics go.

Three environment variables steer a build of the book, never the library's behaviour:

* ``WORMHOLE_QUICK=1``: the chapters run the same code at tiny sizes (:func:`quick`, :func:`size`);
* ``WORMHOLE_SEED_OFFSET=K`` (default 0): every training and evaluation seed of the book is
  shifted by ``K`` (:func:`seeds`, :func:`seed`), so ``WORMHOLE_SEED_OFFSET=100 make book``
  replicates the whole book on a second, disjoint seed set;
* ``WORMHOLE_METRICS_DIR``: where chapters save metrics for the results page (:func:`metrics_dir`);
  ``WORMHOLE_FINGERPRINT``, set by ``tools/build_book.py``, stamps them with the build they
  belong to (:func:`provenance`).
* ``WORMHOLE_STATIC=1``, set by ``tools/build_book.py``: the outputs become static web pages
  (:func:`static`), so chapters draw a figure instead of widgets (the build also sets
  ``TQDM_DISABLE=1``, so that training draws no progress bar).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

#: seeds of one book build lie in [offset, offset + SEED_SPAN); offsets of replications differ by at least this
SEED_SPAN = 100


def quick() -> bool:
    """True when ``WORMHOLE_QUICK=1``: the chapters run the same code at tiny sizes."""
    return os.environ.get("WORMHOLE_QUICK", "0") == "1"


def static() -> bool:
    """True while ``tools/build_book.py`` executes the chapters for the web pages
    (``WORMHOLE_STATIC=1``): a saved widget would be dead on the page, so a chapter shows a static
    figure for its widgets' default values instead. In Jupyter, Binder and Colab it is False and the widgets work."""
    return os.environ.get("WORMHOLE_STATIC", "0") == "1"


def size(full, quick_value):
    """``quick_value`` in quick mode, ``full`` otherwise."""
    return quick_value if quick() else full


def seed_offset() -> int:
    """``$WORMHOLE_SEED_OFFSET`` (default 0), a non-negative multiple of :data:`SEED_SPAN`."""
    raw = os.environ.get("WORMHOLE_SEED_OFFSET", "0")
    try:
        offset = int(raw)
    except ValueError:
        raise ValueError(f"WORMHOLE_SEED_OFFSET must be an integer, got {raw!r}") from None
    if offset < 0 or offset % SEED_SPAN:
        raise ValueError(f"WORMHOLE_SEED_OFFSET must be a non-negative multiple of {SEED_SPAN} "
                         f"(so that seed sets are disjoint), got {offset}")
    return offset


def seed(value: int) -> int:
    """A seed of the book (``0 <= value < SEED_SPAN``), shifted by the seed offset."""
    if not 0 <= int(value) < SEED_SPAN:
        raise ValueError(f"book seeds lie in [0, {SEED_SPAN}); got {value}")
    return int(value) + seed_offset()


def seeds(n: int) -> list[int]:
    """The first ``n`` training seeds of the book, shifted by the seed offset."""
    return [seed(i) for i in range(n)]


#: the evaluation-task seed every comparison of the book shares (before the offset)
EVAL_SEED = 42


def eval_seed() -> int:
    """The seed of the shared evaluation tasks, shifted by the seed offset."""
    return seed(EVAL_SEED)


def metrics_dir() -> Path:
    """Where chapters save metrics for the results page (``$WORMHOLE_METRICS_DIR``, or
    ``../_build/metrics`` next to the notebooks; ``-quick`` appended in quick mode)."""
    default = "../_build/metrics" + ("-quick" if quick() else "")
    path = Path(os.environ.get("WORMHOLE_METRICS_DIR", default))
    path.mkdir(parents=True, exist_ok=True)
    return path


def source_fingerprint(root: str | os.PathLike, patterns=("wormhole/**/*.py", "notebooks/*.ipynb")) -> str:
    """A hash of the files under ``root`` that decide the book's numbers (the package's
    sources and the chapters), so that results computed from other sources are never reused."""
    root = Path(root)
    digest = hashlib.sha256()
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            if "__pycache__" in path.parts or ".ipynb_checkpoints" in path.parts:
                continue
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cpu_path() -> str:
    """The floating-point path of torch's CPU kernels: ``$ATEN_CPU_CAPABILITY`` where set (e.g.
    ``"avx2"`` or ``"default"``: another rounding of the same computation, as on another
    machine), else ``"native"`` (the best the processor offers, torch's own choice)."""
    return os.environ.get("ATEN_CPU_CAPABILITY", "").strip().lower() or "native"


def provenance() -> dict:
    """What a saved metrics file records about the run that wrote it."""
    return {"quick": quick(), "seed_offset": seed_offset(), "cpu_path": cpu_path(),
            "fingerprint": os.environ.get("WORMHOLE_FINGERPRINT")}


#: the chapters' running times of the last recorded builds, beside the notebooks' folder
DURATIONS = Path("../tools/chapter_durations.json")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(5, int(round(seconds / 5.0)) * 5)} seconds"
    return f"{int(round(seconds / 60.0))} minutes"


#: how a reader of a chapter gets a GPU (the package picks CUDA by itself, ``device="auto"``)
GPU_HINT = ("On a GPU the package uses CUDA by itself; in Colab, choose Runtime → Change runtime type → "
            "a GPU before running the chapter.")


def running_time(notebook: str, durations: str | os.PathLike = DURATIONS) -> str:
    """A sentence for a chapter's summary: how long ``notebook`` (e.g. ``"05_mnist.ipynb"``) ran in
    the last recorded full and quick builds (``tools/chapter_durations.json``, which
    ``tools/build_book.py --store-durations`` writes from a build), or ``""`` where that file is
    not at hand (a chapter opened outside the repository). It ends with :data:`GPU_HINT`."""
    import json

    path = Path(durations)
    if not path.exists():
        return ""
    recorded = json.loads(path.read_text())
    full, fast = recorded.get("full", {}).get(notebook), recorded.get("quick", {}).get(notebook)
    if full is None:
        return ""
    text = f"The last recorded build ran this chapter in about {_duration(full)} on two CPU cores"
    if fast is not None:
        text += f"; `WORMHOLE_QUICK=1` runs the same code at toy sizes in about {_duration(fast)}"
    return text + ". " + GPU_HINT


class _Pasted:
    """Glued text: Markdown for ``{glue:md}`` in the same chapter, and the same text as plain text
    for ``{glue:text}`` (another page's ``{glue:text}`chapter.ipynb::key:s```), which pastes plain
    text only."""

    def __init__(self, text: str):
        self.text = text

    def _repr_markdown_(self) -> str:
        return self.text

    def __repr__(self) -> str:
        # myst-nb's {glue:text} passes the plain text through ast.literal_eval (to strip quotes), so
        # a bare "5,000" would paste as the tuple "(5, 0)": a string literal pastes as itself
        return repr(self.text)


def glue(key: str, value, digits: int = 3) -> None:
    """Make ``value`` available to the chapter's prose as ``{glue:md}`key``` (and to other pages
    as ``{glue:text}`/notebooks/<chapter>.ipynb::key:s```): strings as Markdown (no quotes),
    numbers formatted to ``digits`` significant digits, a figure as an image. Outside a book build (no myst-nb, e.g. in
    Colab) it does nothing: only the rendered book pastes."""
    try:
        from myst_nb import glue as _glue
    except ImportError:
        return
    if hasattr(value, "savefig"):  # a matplotlib figure: pasted as an image ({glue:figure}, or {glue} with :doc:)
        _glue(key, value, display=False)
        return
    text = value if isinstance(value, str) else f"{value:.{digits}g}"
    _glue(key, _Pasted(text), display=False)


def save_timing(chapter: str) -> Path:
    """Save where this chapter's time went (:func:`wormhole.timing.summary`, the phases the package
    timed since the kernel started) as ``timing-<chapter>.json`` beside the metrics, for the book's
    execution-times page."""
    import json

    from .checkpoints import atomic_write
    from .timing import summary

    path = metrics_dir() / f"timing-{chapter}.json"
    text = json.dumps({"name": f"timing-{chapter}", "chapter": chapter, "provenance": provenance(),
                       "phases": summary()}, indent=1)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    return path

