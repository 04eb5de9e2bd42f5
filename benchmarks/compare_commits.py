"""Does a change slow the library down? The main job, side by side: this tree against a base
commit, alternately (base, this, base, this, ...) so that load drifts hit both equally.

    PYTHONPATH=src python benchmarks/compare_commits.py --base REV [--runs 3] [--out FILE.md]
        [extra `classicnets train` args]

The base commit is checked out into a temporary git worktree; each run is a fresh
`python -m classicnets train --quiet` process with that tree's src/ first on PYTHONPATH (the
same interpreter and packages for both). Reported per side: the training time the run's
summary.json gives (evaluation excluded), the whole process's wall time, and the test accuracy,
which must be identical (training is deterministic). The machine, its CPU flags and the load
average head the file: on a shared machine only the ratio means anything.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from classicnets.tools.bench.machine import cpu_flags, cpu_name

ROOT = Path(__file__).resolve().parents[1]


def one_run(src: Path, extra: list[str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        env = {**os.environ, "PYTHONPATH": str(src)}
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "classicnets", "train", "--quiet", "--run-dir", str(run_dir),
             *extra],
            env=env, check=True, capture_output=True, cwd=tmp,
        )  # fmt: skip
        wall = time.perf_counter() - t0
        summary = json.loads((run_dir / "summary.json").read_text())
    return {
        "train_s": float(summary["train_seconds"]),
        "wall_s": wall,
        "acc": float(summary.get("final_test_acc") or summary.get("test_acc") or 0.0),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--base", required=True, help="the commit to compare with")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--out", type=Path)
    args, extra = p.parse_known_args(argv)
    argv_used = sys.argv[1:] if argv is None else argv
    base_rev = subprocess.run(
        ["git", "rev-parse", "--short", args.base], cwd=ROOT, check=True, capture_output=True,
        text=True,
    ).stdout.strip()  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        base_tree = Path(tmp) / "base"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(base_tree), base_rev],
            cwd=ROOT, check=True, capture_output=True,
        )  # fmt: skip
        try:
            sides = {f"base {base_rev}": base_tree / "src", "this tree": ROOT / "src"}
            runs: dict[str, list[dict[str, float]]] = {k: [] for k in sides}
            load = os.getloadavg()
            for _ in range(args.runs):
                for label, src in sides.items():
                    runs[label].append(one_run(src, extra))
            load_after = os.getloadavg()
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(base_tree)], cwd=ROOT, check=False
            )
    lines = [
        f"# Main job, this tree against {base_rev} (alternating, {args.runs} runs each)",
        "",
        f"- command: `PYTHONPATH=src python benchmarks/compare_commits.py {' '.join(argv_used)}`",
        f"- machine: {cpu_name()}, {os.cpu_count()} cores, flags: {cpu_flags() or 'none'}",
        f"- load average before / after: {load[0]:.1f} / {load_after[0]:.1f}",
        "",
        "| side | training s (median, min-max) | process s (median) | test accuracy |",
        "|---|---|---|---|",
    ]
    for label, rs in runs.items():
        train = [r["train_s"] for r in rs]
        lines.append(
            f"| {label} | {statistics.median(train):.1f} ({min(train):.1f}-{max(train):.1f}) | "
            f"{statistics.median(r['wall_s'] for r in rs):.1f} | "
            f"{', '.join(format(r['acc'], '.4f') for r in rs)} |"
        )
    base_t, this_t = (statistics.median(r["train_s"] for r in rs) for rs in runs.values())
    lines += ["", f"training time ratio this / base: {this_t / base_t:.3f}", ""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
