"""Peak training memory and step time of DenseNet, standard vs memory-efficient mode.

    PYTHONPATH=src python benchmarks/densenet_memory.py                 # both default cases
    PYTHONPATH=src python benchmarks/densenet_memory.py --device cuda --batch-size 64

One training step = forward, cross-entropy, backward, SGD (momentum 0.9) update, in train mode.
Every (model, mode) measurement runs in a fresh subprocess, and the modes alternate over
``--rounds`` rounds, so that neither mode inherits the other's allocator state or gets the
quieter half of the run.

Peak memory is what one training step adds on top of the model, its gradients and optimizer
state (all allocated by a warm-up step first):

* CUDA: ``torch.cuda.max_memory_allocated()`` during the timed steps minus the memory allocated
  before them.
* CPU: the process's peak resident set size during the timed steps (the kernel's high-water mark
  ``VmHWM``, reset before them through ``/proc/self/clear_refs``) minus its resident size before
  them, with glibc told to serve every allocation above 64 KiB by ``mmap``
  (``MALLOC_MMAP_THRESHOLD_``) so that freed tensors leave the resident set at once.

Step time: median over all timed steps of all rounds, with min and max. Results go to
``benchmarks/results/densenet_memory_<device>.{csv,md}`` with the command, machine and versions.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"
# model -> (input size, default CPU batch, default CUDA batch)
CASES: dict[str, tuple[int, int, int]] = {
    "densenet121": (224, 4, 64),
    "densenet_bc190_k40": (32, 2, 64),
}
MODES = ("standard", "memory_efficient")


# -- the worker: one model, one mode, in its own process ----------------------------------------


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(ln.split()[1]) for ln in f if ln.startswith(field + ":"))


def _reset_peak_rss() -> bool:
    """Reset the kernel's resident-set high-water mark (VmHWM); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def run_worker(model_name: str, mode: str, batch: int, steps: int, device: str) -> dict:
    import classicnets

    torch.manual_seed(0)
    dev = torch.device(device)
    size = CASES[model_name][0]
    model = classicnets.create_model(model_name, memory_efficient=mode == "memory_efficient")
    model = model.to(dev).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, size, size, device=dev)
    y = torch.randint(0, model.num_classes, (batch,), device=dev)

    def step() -> None:
        opt.zero_grad(set_to_none=False)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    step()  # warm-up: allocates gradients and momentum buffers, picks kernels
    sync()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        exact_peak = _reset_peak_rss()
        base = _status_kib("VmRSS") * 1024
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated() - base
    elif exact_peak:
        peak = _status_kib("VmHWM") * 1024 - base
    else:  # the lifetime peak, warm-up included: an upper bound
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    return {"peak_bytes": peak, "base_bytes": base, "times": times}


# -- the driver ------------------------------------------------------------------------------------


@dataclass
class Row:
    model: str
    mode: str
    input_size: int
    batch: int
    peak_mib: float
    step_median_s: float
    step_min_s: float
    step_max_s: float
    n_steps: int


def _spawn(model: str, mode: str, batch: int, steps: int, device: str, threads: int) -> dict:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", OMP_NUM_THREADS=str(threads))
    cmd = [sys.executable, __file__, "--worker", model, mode, "--batch-size", str(batch)]
    cmd += ["--steps", str(steps), "--device", device]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _machine(device: str) -> str:
    if device == "cuda":
        return f"{torch.cuda.get_device_name()} (CUDA {torch.version.cuda})"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worker", nargs=2, metavar=("MODEL", "MODE"), help=argparse.SUPPRESS)
    p.add_argument("--models", nargs="+", default=list(CASES), choices=list(CASES))
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch-size", type=int, default=None, help="default: per model and device")
    p.add_argument("--steps", type=int, default=3, help="timed steps per process")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds of both modes")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--note", default="", help="a line about the machine's state, for the report")
    args = p.parse_args(argv)

    if args.worker:
        model, mode = args.worker
        batch = args.batch_size or CASES[model][2 if args.device == "cuda" else 1]
        print(json.dumps(run_worker(model, mode, batch, args.steps, args.device)))
        return 0

    rows: list[Row] = []
    for model in args.models:
        size, cpu_batch, cuda_batch = CASES[model]
        batch = args.batch_size or (cuda_batch if args.device == "cuda" else cpu_batch)
        runs: dict[str, list[dict]] = {m: [] for m in MODES}
        for r in range(args.rounds):
            for mode in MODES if r % 2 == 0 else MODES[::-1]:
                res = _spawn(model, mode, batch, args.steps, args.device, args.threads)
                runs[mode].append(res)
                print(
                    f"{model} {mode} round {r}: peak {res['peak_bytes'] / 2**20:.0f} MiB, "
                    f"steps {', '.join(f'{t:.2f}' for t in res['times'])} s",
                    flush=True,
                )
        for mode in MODES:
            times = [t for res in runs[mode] for t in res["times"]]
            peak = statistics.median(res["peak_bytes"] for res in runs[mode])
            rows.append(
                Row(
                    model,
                    mode,
                    size,
                    batch,
                    peak / 2**20,
                    statistics.median(times),
                    min(times),
                    max(times),
                    len(times),
                )
            )
    _write(rows, args)
    return 0


def _write(rows: list[Row], args: argparse.Namespace) -> None:
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"densenet_memory_{args.device}"
    fields = list(Row.__dataclass_fields__)
    with open(stem.with_suffix(".csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(fields)
        for r in rows:
            w.writerow(
                [
                    getattr(r, k)
                    if not isinstance(getattr(r, k), float)
                    else f"{getattr(r, k):.3f}"
                    for k in fields
                ]
            )
    command = shlex.join(["python", "benchmarks/densenet_memory.py", *sys.argv[1:]])
    lines = [
        "# DenseNet: standard vs memory-efficient training step",
        "",
        f"- command: `{command}`",
        f"- machine: {_machine(args.device)}; {args.threads} threads",
        f"- versions: torch {torch.__version__}, Python {platform.python_version()}",
        f"- date: {time.strftime('%Y-%m-%d %H:%M')}",
        f"- protocol: {args.rounds} alternating rounds x {args.steps} timed steps per mode, "
        "each (model, mode) in a fresh process after one warm-up step; "
        "see the script's docstring for how peak memory is measured",
    ]
    if args.note:
        lines.append(f"- note: {args.note}")
    lines += [
        "",
        "| model | input | batch | mode | peak step memory (MiB) | vs standard "
        "| step time median (s) | min-max (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    standard = {r.model: r for r in rows if r.mode == "standard"}
    for r in rows:
        rel = r.peak_mib / standard[r.model].peak_mib if r.model in standard else float("nan")
        trel = r.step_median_s / standard[r.model].step_median_s
        lines.append(
            f"| {r.model} | {r.input_size} | {r.batch} | {r.mode} | {r.peak_mib:,.0f} | "
            f"{rel:.2f}x memory, {trel:.2f}x time | {r.step_median_s:.2f} | "
            f"{r.step_min_s:.2f}-{r.step_max_s:.2f} |"
        )
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
