"""The main job's figure: ResNet-20 on the embedded digits (the digits recipe,
src/classicnets/training/recipes/digits.toml).

Runs `classicnets train` (the same code path as `bash scripts/main.sh`) in a fresh process and
records the test accuracy, the training time (wall clock, evaluation excluded, as the run's
summary.json reports it), the process's CPU time, and the machine's load average, because the
wall time on a shared 2-core machine depends on what else runs. Writes
benchmarks/results/digits.json and appends a row to benchmarks/results/digits.md.

    PYTHONPATH=src python benchmarks/digits.py [--runs N] [extra `classicnets train` args]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from classicnets.tools.bench.machine import cpu_name

RESULTS = Path(__file__).parent / "results"


def one_run(extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        load_before = os.getloadavg()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "classicnets", "train", "--quiet", "--run-dir", str(run_dir),
             *extra],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise SystemExit(f"training failed:\n{proc.stdout}\n{proc.stderr}")
        summary = json.loads((run_dir / "summary.json").read_text())
    return {
        "test_acc": summary["test_acc"],
        "best_test_acc": summary["best_test_acc"],
        "epochs": summary["epochs"],
        "train_seconds": summary["train_seconds"],
        "process_wall_seconds": round(wall, 1),
        "process_cpu_seconds": round(
            (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1
        ),
        "images_per_s": summary["images_per_s"],
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        "log_tail": proc.stdout.strip().splitlines()[-3:],
    }


def step_timing(extra: list[str], steps: int = 40) -> dict:
    """The recipe's training step (data included), timed one by one in this process.

    On a shared machine the run's wall time measures the other jobs as much as this one; the
    fastest steps are the ones that had the cores, so ``steps x fastest step`` estimates the
    training time on an idle machine (reported as an estimate, beside the measured time).
    """
    import torch.nn.functional as F

    from classicnets import create_model
    from classicnets.cli import build_parser
    from classicnets.cli.train import train_config_from_args
    from classicnets.data import build_data
    from classicnets.data.loader import StepBatchSampler, make_loader

    cfg, _ = train_config_from_args(build_parser().parse_args(["train", *extra]))
    data = build_data(cfg.data_config(cfg.input_size or 32))
    sampler = StepBatchSampler(len(data.train), global_batch=cfg.batch_size, seed=0)
    loader = iter(make_loader(data.train, sampler, 0))
    model = create_model(cfg.model, num_classes=10, in_chans=data.in_chans)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    times = []
    for _ in range(min(steps, sampler.steps_per_epoch)):
        t0 = time.perf_counter()
        batch = next(loader)
        with torch.autocast("cpu", torch.bfloat16, enabled=cfg.precision == "bf16"):
            loss = F.cross_entropy(model(batch.images).float(), batch.labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    times.sort()
    total_steps = cfg.epochs * sampler.steps_per_epoch
    return {
        "batch_size": cfg.batch_size,
        "input_size": cfg.input_size,
        "precision": cfg.precision,
        "steps_timed": len(times),
        "fastest_step_s": round(times[0], 4),
        "median_step_s": round(times[len(times) // 2], 4),
        "run_steps": total_steps,
        "idle_estimate_train_s": round(total_steps * times[0], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    args, extra = parser.parse_known_args()
    runs = [one_run(extra) for _ in range(args.runs)]
    timing = step_timing(extra)
    machine = {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
    }
    record = {
        "command": "PYTHONPATH=src python benchmarks/digits.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": machine,
        "runs": runs,
        "step_timing": timing,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "digits.json").write_text(json.dumps(record, indent=2) + "\n")
    md = RESULTS / "digits.md"
    if not md.exists():
        md.write_text(
            "# ResNet-20 on the embedded digits (src/classicnets/training/recipes/digits.toml)\n\n"
            "Train time = the run's training steps, evaluation excluded (summary.json). CPU = "
            "user + system seconds of the whole process (start-up and evaluation included). "
            "Load = 1-minute load average before / after: the machine is shared, so the wall "
            "time grows with the load (and so does the CPU time, less: threads spin while they "
            "wait).\n\n"
            "Idle estimate = the run's steps x the fastest of 40 recipe steps timed after the "
            "run (data loading included, evaluation excluded): the time the training would "
            "take with both cores to itself (an upper bound when even the fastest step was slowed "
            "by other jobs).\n\n"
            "| date | test acc | epochs | train time (s) | process wall (s) | process CPU (s) "
            "| images/s | load before / after | idle estimate (s) | torch | extra args |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|\n"
        )
    with md.open("a") as f:
        for r in runs:
            f.write(
                f"| {record['date']} | {r['test_acc']:.2%} | {r['epochs']} | "
                f"{r['train_seconds']:.0f} | {r['process_wall_seconds']:.0f} | "
                f"{r['process_cpu_seconds']:.0f} | {r['images_per_s']:.0f} | "
                f"{r['load_avg_before'][0]:.1f} / {r['load_avg_after'][0]:.1f} | "
                f"{timing['idle_estimate_train_s']:.0f} | "
                f"{machine['torch']} | {' '.join(extra) or '-'} |\n"
            )
    for r in runs:
        print(json.dumps({k: v for k, v in r.items() if k != "log_tail"}))
    print(json.dumps(timing))


if __name__ == "__main__":
    main()
