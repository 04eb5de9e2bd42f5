"""Does training keep up with the model? End-to-end training speed against the step's ceiling
and against a plain PyTorch loop, side by side, ResNet-20 on the CIFAR-10 JPEGs, batch 128.

Each round measures, in this order and each in a fresh process (training switches process-wide
settings on, so no side inherits another's):

* ``step``: the model's own ceiling: ``classicnets.tools.bench`` train mode on one synthetic batch
  (forward, backward, SGD), memory retained as training retains it;
* ``ours (memory)``: ``classicnets train`` end to end (data_cache auto: the split decoded once,
  then each batch cropped, flipped and normalized whole on tensors), in steady state: the
  training time of a run of WARMUP + N steps less that of a run of WARMUP steps;
* ``ours (streaming)``: the same with ``data_cache=off`` (JPEGs decoded every epoch, per-image
  transforms, ``workers=0``), for contrast;
* ``plain (workers W)``: ``benchmarks/plain_loop.py``, ImageFolder + transforms + DataLoader
  with W worker processes, written the usual way;

in fp32 and in bf16 autocast + channels_last. The ratios are taken within each round and their
median and range over the rounds are reported: on a shared machine the load moves every figure,
and a ratio measured side by side moves far less. Run it on a quiet machine only.

    PYTHONPATH=src python benchmarks/data_pipeline.py [--rounds 3] [--steps 50]

Results: benchmarks/results/data_pipeline.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from classicnets.tools.bench.machine import describe_machine

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
ROOT = HERE.parent
ARCHIVE = ROOT.parent / "shared" / "datasets" / "cifar10-jpg.tar.gz"
BATCH = 128
WARMUP = 5  # untimed steps, ours and the plain loop's
PRECISIONS = {"fp32": ("fp32", False), "bf16+channels_last": ("bf16", True)}


def _python(code_or_args: list[str]) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(
        [sys.executable, *code_or_args], env=env, capture_output=True, text=True, cwd=ROOT
    )
    if out.returncode:
        raise RuntimeError(f"{' '.join(code_or_args)[:200]} failed:\n{out.stderr[-3000:]}")
    return out.stdout


def step_speed(precision: str, channels_last: bool, repeats: int) -> float:
    code = (
        "from classicnets.tools.bench.harness import run_bench\n"
        "from classicnets.tools.bench.steps import BenchConfig\n"
        f"r = run_bench(BenchConfig('resnet20', mode='train', batch_size={BATCH}, "
        f"input_size=32, precision={precision!r}, channels_last={channels_last}, "
        f"retain_memory=True, warmup=3, repeats={repeats}))\n"
        "print(r[0].images_per_s)\n"
    )
    return float(_python(["-c", code]).split()[-1])


def _train_seconds(
    precision: str, channels_last: bool, steps: int, data_dir: str, cache: str, *extra: str
) -> float:
    """Training seconds of a ``classicnets train`` run of ``steps`` steps (its one epoch)."""
    with tempfile.TemporaryDirectory() as tmp:
        _python(
            ["-m", "classicnets", "train", "--recipe", "resnet_cifar", "--data-dir", data_dir,
             "--run-dir", f"{tmp}/run", "--quiet",
             "--set", f"steps={steps}", "--set", f"train_subset={steps * BATCH}",
             "--set", f"test_subset={BATCH}", "--set", f"precision={precision}",
             "--set", f"channels_last={str(channels_last).lower()}",
             "--set", f"data_cache={cache}", "--set", "report=false",
             "--set", "tensorboard=false", *extra]
        )  # fmt: skip
        return float(json.loads(Path(f"{tmp}/run/summary.json").read_text())["train_seconds"])


def ours(
    precision: str, channels_last: bool, steps: int, data_dir: str, cache: str, *extra: str
) -> float:
    """Steady-state images/s of ``classicnets train``: the difference between a run of
    ``steps + WARMUP`` steps and one of ``WARMUP`` steps, so that the first steps (oneDNN
    builds its kernels, the loader starts) count for neither side, as the plain loop's
    untimed warm-up steps do not."""
    short = _train_seconds(precision, channels_last, WARMUP, data_dir, cache, *extra)
    long = _train_seconds(precision, channels_last, WARMUP + steps, data_dir, cache, *extra)
    return steps * BATCH / (long - short)


def plain(precision: str, channels_last: bool, steps: int, data_dir: str, workers: int) -> float:
    args = [str(HERE / "plain_loop.py"), "--precision", precision, "--workers", str(workers),
            "--steps", str(steps), "--warmup", str(WARMUP), "--data-dir", data_dir,
            "--json"]  # fmt: skip
    if channels_last:
        args.append("--channels-last")
    out = _python(args)
    return float(json.loads(out[out.index("{") :])["images_per_s"])


def _data_dir() -> str:
    from classicnets.data.datasets import extract_archive

    return str(extract_archive(ARCHIVE))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=50, help="training steps per measurement")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="plain loop's")
    ap.add_argument("--out", default=str(RESULTS / "data_pipeline"))
    args = ap.parse_args()
    data_dir = _data_dir()
    machine = describe_machine()
    rows: dict[str, dict[str, list[float]]] = {p: {} for p in PRECISIONS}
    for r in range(args.rounds):
        for name, (precision, cl) in PRECISIONS.items():
            got = {
                "step": step_speed(precision, cl, repeats=10),
                "ours (memory)": ours(precision, cl, args.steps, data_dir, "auto"),
                "ours (streaming)": ours(precision, cl, args.steps, data_dir, "off"),
            }
            for w in args.workers:
                got[f"plain (workers {w})"] = plain(precision, cl, args.steps, data_dir, w)
            for k, v in got.items():
                rows[name].setdefault(k, []).append(v)
            print(f"round {r + 1} {name}: " + ", ".join(f"{k} {v:.0f}" for k, v in got.items()))
    report = _report(rows, machine, args)
    Path(args.out + ".json").write_text(json.dumps(report, indent=2) + "\n")
    Path(args.out + ".md").write_text(_markdown(report))
    print(_markdown(report))


def _ratio(num: list[float], den: list[float]) -> dict[str, float]:
    r = [a / b for a, b in zip(num, den, strict=True)]
    return {"median": round(statistics.median(r), 3), "min": round(min(r), 3),
            "max": round(max(r), 3)}  # fmt: skip


def _report(rows: dict[str, dict[str, list[float]]], machine: dict, args: Any) -> dict:
    out: dict[str, Any] = {"machine": machine, "batch": BATCH, "steps": args.steps,
                           "rounds": args.rounds, "precisions": {}}  # fmt: skip
    for name, got in rows.items():
        plains = [k for k in got if k.startswith("plain")]
        best_plain = [max(vals) for vals in zip(*(got[k] for k in plains), strict=True)]
        out["precisions"][name] = {
            "images_per_s": {k: [round(v, 1) for v in vals] for k, vals in got.items()},
            "ours (memory) / step": _ratio(got["ours (memory)"], got["step"]),
            "ours (memory) / best plain": _ratio(got["ours (memory)"], best_plain),
            "ours (streaming) / step": _ratio(got["ours (streaming)"], got["step"]),
            "best plain / step": _ratio(best_plain, got["step"]),
        }
    return out


def _markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# Training data pipeline: end-to-end speed against the step and a plain loop",
        "",
        f"ResNet-20, CIFAR-10 JPEGs, batch {report['batch']}, {report['steps']} steps per "
        f"measurement, {report['rounds']} rounds, each side in a fresh process "
        "(`PYTHONPATH=src python benchmarks/data_pipeline.py`).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores; {m['cpu flags']}; load at the start "
        f"{m['load average (1/5/15 min)']}; torch {m['torch']}. The bf16 figures depend on "
        "amx_bf16/avx512_bf16 (without them bf16 runs slower than fp32).",
        "",
    ]
    for name, p in report["precisions"].items():
        lines += [f"## {name}", "", "| side | images/s per round |", "|---|---|"]
        for k, vals in p["images_per_s"].items():
            lines.append(f"| {k} | {', '.join(f'{v:.0f}' for v in vals)} |")
        lines += ["", "| ratio | median | range |", "|---|---|---|"]
        for k, r in p.items():
            if k != "images_per_s":
                lines.append(f"| {k} | {r['median']:.2f}x | {r['min']:.2f}-{r['max']:.2f} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
