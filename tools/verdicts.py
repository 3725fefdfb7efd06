"""The verdicts of full builds, read from their built results pages, side by side in the README.

``python tools/verdicts.py record SITE [--repo DIR]``
    read ``SITE/notebooks/09_results.html`` (a built book), and write its claims' verdicts (the
    final word, each seed set's, and whether the word is borderline), the build's seed offset
    and CPU floating-point path, and the commit it was built from (``git -C DIR rev-parse HEAD``,
    default: this repository) to ``docs/verdicts/seed-offset-<N>[-cpu-<path>].json``.
    ``make book`` runs it after a full build.
``python tools/verdicts.py judge METRICS [--metrics-commit C]``
    judge the metrics a full build saved (``_build/metrics``) with *this* checkout's rules
    (:func:`wormhole.report.claims`, the results page's own function) and record the verdicts
    as ``record`` does, naming both the commit whose rules judged and the commit that computed
    the metrics. For a rule that changed after the training it judges: the training is not
    repeated, and the record says so.
``python tools/verdicts.py readme``
    rewrite the README's verdict table (between ``<!-- verdicts:start -->`` and
    ``<!-- verdicts:end -->``) from every recorded seed offset, one column per build.

Nothing here is typed: every word comes from a built page, and each column names its commit.
A quick build (``WORMHOLE_QUICK=1``) is refused: its verdicts are not the book's.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "docs" / "verdicts"
README = ROOT / "README.md"
START, END = "<!-- verdicts:start -->", "<!-- verdicts:end -->"
PAGE = Path("notebooks") / "09_results.html"


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


def read_page(path: Path) -> dict:
    """``{"seed_offset", "quick", "claims": {key: {"claim", "final", "sets"}}}`` from a built results page."""
    page = Path(path).read_text()
    table = re.search(r'<table class="wormhole-results">(.*?)</table>', page, re.S)
    if not table:
        raise ValueError(f"{path} holds no results table (class wormhole-results): is it a built results page?")
    claims = {}
    for row in re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S):
        key = re.search(r'<td data-claim="([^"]+)">', row)
        if not key:
            continue   # the header
        cells = [_text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        borderline = re.search(r'data-borderline="(true|false)"', row)
        claims[html.unescape(key.group(1))] = {"claim": cells[0], "final": cells[1], "sets": cells[2:4],
                                               "borderline": bool(borderline and borderline.group(1) == "true")}
    if not claims:
        raise ValueError(f"{path}: the results table has no claim rows")
    offset = re.search(r"seed_offset: (-?\d+)", page)
    quick = re.search(r"quick: (True|False)", page)
    cpu = re.search(r"cpu_path: ([\w.-]+)", page)
    if not offset or not quick:
        raise ValueError(f"{path}: the build's provenance (seed_offset, quick) is not on the page")
    return {"seed_offset": int(offset.group(1)), "quick": quick.group(1) == "True",
            "cpu_path": cpu.group(1) if cpu else "native", "claims": claims}


def _commit(repo: Path) -> str:
    return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()


def _write(data: dict, out: Path) -> Path:
    """``out/seed-offset-<N>.json`` (``-cpu-<path>`` added off the native floating-point path)."""
    out.mkdir(parents=True, exist_ok=True)
    cpu = data.get("cpu_path", "native")
    path = out / (f"seed-offset-{data['seed_offset']}" + ("" if cpu == "native" else f"-cpu-{cpu}") + ".json")
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    return path


def record(site: Path, repo: Path = ROOT, out: Path = RECORDS) -> Path:
    """Write the verdicts of the full build in ``site`` to ``out/seed-offset-<N>[-cpu-<path>].json``."""
    data = read_page(Path(site) / PAGE)
    if data["quick"]:
        raise ValueError(f"{site} is a quick build (WORMHOLE_QUICK=1): its verdicts are not the book's")
    return _write({"commit": _commit(repo), **data}, out)


def judge(metrics: Path, repo: Path = ROOT, out: Path = RECORDS, metrics_commit: str | None = None,
          cpu_path: str | None = None) -> Path:
    """Judge the saved metrics of one full build in ``metrics`` with this checkout's rules and
    record the verdicts (:func:`record`'s format, plus ``metrics_commit``). ``cpu_path``: the
    build's floating-point path where its metrics predate recording it (else it must agree)."""
    from wormhole import report

    loaded = report.load(metrics)
    if not loaded:
        raise ValueError(f"{metrics} holds no saved metrics (*.json): point it at a build's _build/metrics")
    origins = {json.dumps(m.get("provenance", {}), sort_keys=True) for m in loaded.values()}
    if len(origins) != 1:
        raise ValueError(f"{metrics} mixes metrics of {len(origins)} builds; judge one build at a time")
    prov = json.loads(origins.pop())
    if prov.get("quick", True):
        raise ValueError(f"{metrics} was written by a quick build (WORMHOLE_QUICK=1): its verdicts are not the book's")
    recorded = prov.get("cpu_path")
    if recorded is None and cpu_path is None:
        raise ValueError(f"{metrics} does not record its CPU path (metrics older than that field): pass --cpu-path")
    if recorded is not None and cpu_path is not None and recorded != cpu_path:
        raise ValueError(f"{metrics} was computed on CPU path {recorded!r}, not {cpu_path!r}")
    cpu = recorded or cpu_path
    claims = {r.key: {"claim": r.claim, "final": r.verdict, "sets": list(r.set_verdicts), "borderline": r.borderline}
              for r in report.claims(loaded)}
    data = {"commit": _commit(repo), "metrics_commit": metrics_commit or "unrecorded",
            "seed_offset": int(prov.get("seed_offset", 0)), "quick": False,
            "cpu_path": cpu, "claims": claims}
    return _write(data, out)


def table(records: list[dict]) -> str:
    """A Markdown table: one row per claim, one column per recorded build (final word, and each
    seed set's verdict in brackets)."""
    records = sorted(records, key=lambda r: (r["seed_offset"], r.get("cpu_path", "native") != "native",
                                             r.get("cpu_path", "native")))
    keys = list(dict.fromkeys(k for r in records for k in r["claims"]))

    def title(r):
        cpu = r.get("cpu_path", "native")
        where = f", CPU path {cpu}" if cpu != "native" else ""
        judged = (f", metrics of `{r['metrics_commit'][:7]}`" if r.get("metrics_commit", r["commit"]) != r["commit"]
                  else "")
        return f"seed offset {r['seed_offset']}{where} (`{r['commit'][:7]}`{judged})"

    head = ["claim"] + [title(r) for r in records]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key in keys:
        cells = [key]
        for r in records:
            c = r["claims"].get(key)
            mark = " · borderline" if c and c.get("borderline") else ""
            cells.append(f"**{c['final']}** ({' / '.join(c['sets'])}){mark}" if c else "—")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def readme(path: Path = README, records_dir: Path = RECORDS) -> bool:
    """Rewrite the verdict table in ``path`` from every record; True when the file changed."""
    records = [json.loads(p.read_text()) for p in sorted(Path(records_dir).glob("seed-offset-*.json"))]
    if not records:
        raise ValueError(f"no recorded builds in {records_dir}: run `python tools/verdicts.py record SITE` first")
    text = Path(path).read_text()
    if START not in text or END not in text:
        raise ValueError(f"{path} has no {START} … {END} section to rewrite")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{START}\n{table(records)}\n{END}{tail}"
    Path(path).write_text(new)
    return new != text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="record the verdicts of a built book")
    rec.add_argument("site", type=Path)
    rec.add_argument("--repo", type=Path, default=ROOT)
    jud = sub.add_parser("judge", help="judge a build's saved metrics with this checkout's rules")
    jud.add_argument("metrics", type=Path)
    jud.add_argument("--metrics-commit", help="the commit that computed the metrics")
    jud.add_argument("--cpu-path", help="the build's CPU path (ATEN_CPU_CAPABILITY), where its metrics predate it")
    sub.add_parser("readme", help="rewrite the README's verdict table")
    args = parser.parse_args(argv)
    try:
        if args.command == "record":
            print(record(args.site, args.repo))
        elif args.command == "judge":
            print(judge(args.metrics, ROOT, RECORDS, args.metrics_commit, args.cpu_path))
        else:
            print("README.md " + ("updated" if readme() else "unchanged"))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
