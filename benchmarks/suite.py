"""The benchmark suite: our models against torchvision / timm, side by side, in one process.

    PYTHONPATH=src python benchmarks/suite.py [--models resnet50,resnet20] [--configs ...]
        [--repeats 5] [--warmup 2] [--out benchmarks/results/cpu]

Writes OUT.md (tables, machine, versions, load, the command) and OUT.csv (one row per
measurement). Each row of the comparison runs ours and the reference alternately (A B A B) with
the same weights; the ratio is ours/reference speed, the median of the per-round ratios.
Models of the representative set that are not registered yet are listed as missing, so the
suite covers each family as it lands without edits here.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from classicnets.factory import create_model
from classicnets.models.registry import list_models, model_info
from classicnets.runtime.allocator import memory_retained, retain_freed_memory
from classicnets.tools.bench.harness import (
    BenchResult,
    run_bench,
    run_variants,
    saved_activation_bytes,
)
from classicnets.tools.bench.machine import describe_machine
from classicnets.tools.bench.steps import BenchConfig
from classicnets.tools.reference import NoReferenceError, comparable_model, paired_models

REPRESENTATIVE = (
    "resnet50",
    "resnet20",
    "densenet121",
    "googlenet",
    "inception_v3",
    "vgg16",
    "resnext50_32x4d",
    "seresnet50",
)


@dataclass(frozen=True)
class Setting:
    """One comparison: how ours and the reference run (see BenchConfig)."""

    key: str
    mode: str
    batch: int
    dtype: str = "fp32"
    channels_last: bool = False
    deploy: bool = False
    compile: bool = False

    def describe(self) -> str:
        parts = [self.mode, f"b{self.batch}", self.dtype]
        if self.deploy:
            parts.append("ours deploy" + ("+compile" if self.compile else "") + " vs ref eager CL")
        elif self.channels_last:
            parts.append("channels_last")
        return " ".join(parts)


SETTINGS = {
    s.key: s
    for s in (
        Setting("infer-b1", "infer", 1),
        Setting("infer-b32", "infer", 32),
        Setting("infer-b32-bf16-cl", "infer", 32, "bf16", channels_last=True),
        Setting("train-b32", "train", 32),
        Setting("deploy-b32", "infer", 32, deploy=True),
        Setting("deploy-b32-bf16", "infer", 32, "bf16", deploy=True),
        Setting("deploy-compile-b32", "infer", 32, deploy=True, compile=True),
    )
}


def _reference_library(name: str) -> tuple[str | None, str]:
    """The first library (torchvision, then timm) with our architecture, or the reasons."""
    reasons = []
    for library in ("torchvision", "timm"):
        try:
            paired_models(name, library)
            return library, ""
        except NoReferenceError as e:
            reasons.append(f"{library}: {e}")
    return None, "; ".join(reasons)


def _row(model: str, library: str | None, s: Setting, res: list[BenchResult]) -> dict:
    ours = res[0]
    ref = res[1] if len(res) > 1 else None

    def spread(r: BenchResult) -> str:
        lo, hi = r.images_per_s_spread
        return f"{lo:.2f}-{hi:.2f}"

    return {
        "model": model,
        "reference": f"{library} {ref.label.split(' ', 1)[1]}" if ref and library else "",
        "setting": s.describe(),
        "ours img/s": f"{ours.images_per_s:.2f}",
        "ours range": spread(ours),
        "ref img/s": f"{ref.images_per_s:.2f}" if ref else "",
        "ref range": spread(ref) if ref else "",
        "ratio": f"{ours.ratio:.3f}" if ours.ratio is not None else "",
        "ratio range": "{:.2f}-{:.2f}".format(*ours.ratio_spread) if ours.ratio_spread else "",
        "ours latency ms": f"{ours.latency_ms:.1f}",
        "ours peak MiB": f"{ours.peak_mem_bytes / 2**20:.0f}",
        "ref peak MiB": f"{ref.peak_mem_bytes / 2**20:.0f}" if ref else "",
        "ours eff": f"{100 * ours.efficiency:.0f}%",
        "ref eff": f"{100 * ref.efficiency:.0f}%" if ref else "",
        "notes": "; ".join(
            [f"ours: {', '.join(ours.notes)}"] * bool(ours.notes)
            + ([f"ref: {', '.join(ref.notes)}"] if ref and ref.notes else [])
        ),
    }


def _all_keys(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(k for r in rows for k in r))


def _md_table(rows: list[dict], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--models", default=",".join(REPRESENTATIVE))
    p.add_argument("--configs", default=",".join(SETTINGS), help=", ".join(SETTINGS))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--train-batch", type=int, default=None, help="override train batch size")
    p.add_argument("--batch", type=int, default=None, help="override the batch of b32 settings")
    p.add_argument(
        "--extras",
        default="bf16-train,checkpointing,deploy-ablation",
        help="bf16-train (ours bf16+CL vs fp32 training), checkpointing (peak memory), "
        "deploy-ablation (deploy: fusion on/off, channels_last on/off, per model)",
    )
    p.add_argument("--out", default="benchmarks/results/cpu")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument(
        "--retain-memory",
        action="store_true",
        help="keep freed memory in the process for every row (classicnets.runtime.allocator): "
        "no page faults per step, for ours and the reference alike",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.retain_memory:
        retain_freed_memory()  # before anything is allocated, for every row alike
    command = "PYTHONPATH=src python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])])

    wanted = [m for m in args.models.split(",") if m]
    registered = set(list_models())
    present = [m for m in wanted if m in registered]
    missing = [m for m in wanted if m not in registered]
    settings = [SETTINGS[k] for k in args.configs.split(",") if k]
    machine_before = describe_machine()
    started = time.time()
    rows: list[dict] = []
    no_reference: list[str] = []
    for name in present:
        target = comparable_model(name)
        library, why = _reference_library(target)
        if library is None:
            no_reference.append(f"`{target}`: {why}")
        for s in settings:
            batch = args.batch if args.batch and s.batch > 1 else s.batch
            batch = args.train_batch if s.mode == "train" and args.train_batch else batch
            cfg = BenchConfig(
                model=target, mode=s.mode, batch_size=batch, precision=s.dtype,
                channels_last=s.channels_last, deploy=s.deploy, compile=s.compile,
                warmup=args.warmup, repeats=args.repeats, compare=library,
                retain_memory=args.retain_memory,
            )  # fmt: skip
            print(f"[{time.time() - started:6.0f}s] {target} {s.describe()} (batch {batch})",
                  flush=True)  # fmt: skip
            try:
                res = run_bench(cfg)
            except Exception as e:  # one failing row must not lose the others
                rows.append({"model": target, "setting": s.describe(), "notes": f"failed: {e}"})
                continue
            rows.append(_row(target, library, replace(s, batch=batch), res))
            print(f"         ours {rows[-1]['ours img/s']} img/s, ratio {rows[-1]['ratio']}")

    extra_rows: list[dict] = []
    extras = set(args.extras.split(",")) - {""}
    if "bf16-train" in extras and "resnet20" in present:
        base = BenchConfig(model="resnet20", mode="train", batch_size=128,
                           warmup=args.warmup, repeats=args.repeats,
                           retain_memory=args.retain_memory)  # fmt: skip
        res = run_variants([base, replace(base, precision="bf16", channels_last=True)])
        extra_rows.append(_variant_row("resnet20 training step, b128", res))
        print(f"bf16 training: {extra_rows[-1]}", flush=True)
    if "checkpointing" in extras:
        for name in [comparable_model(m) for m in present]:
            base = BenchConfig(model=name, mode="train", batch_size=8, warmup=1, repeats=2,
                               retain_memory=args.retain_memory)  # fmt: skip
            res = run_variants([base, replace(base, grad_checkpointing=True)])
            row = _variant_row(f"{name} training step, b8", res)
            row["saved for backward MiB (A -> B)"] = _saved_mib(name, 8)
            extra_rows.append(row)
            print(f"checkpointing: {extra_rows[-1]}", flush=True)

    if "deploy-ablation" in extras:
        for name in [comparable_model(m) for m in present]:
            batch = args.batch or 32
            fused = BenchConfig(model=name, batch_size=batch, deploy=True,
                                deploy_channels_last=True, warmup=1,
                                repeats=args.repeats,
                                retain_memory=args.retain_memory)  # fmt: skip
            no_cl = replace(fused, deploy_channels_last=False)
            for what, other in (
                ("deploy: what fusion adds (A not fused)", replace(fused, fuse=False)),
                ("deploy: channels_last (A contiguous)", no_cl),
            ):
                res = run_variants([other, fused])
                extra_rows.append(_variant_row(f"{name} {what}, b{batch}", res))
                print(f"deploy ablation: {extra_rows[-1]}", flush=True)

    _write(args.out, command, machine_before, rows, extra_rows, missing, no_reference, started)
    return 0


def _saved_mib(name: str, batch: int) -> str:
    model = create_model(name)
    size = model_info(name).input_size
    x = torch.randn(batch, model.in_chans, size, size)
    plain = saved_activation_bytes(model, x)
    model.set_grad_checkpointing()
    ckpt = saved_activation_bytes(model, x)
    return f"{plain / 2**20:.0f} -> {ckpt / 2**20:.0f}"


def _variant_row(what: str, res: list[BenchResult]) -> dict:
    a, b = res
    return {
        "measurement": what,
        "A": a.label,
        "A img/s": f"{a.images_per_s:.2f}",
        "A peak MiB": f"{a.peak_mem_bytes / 2**20:.0f}",
        "B": b.label,
        "B img/s": f"{b.images_per_s:.2f}",
        "B peak MiB": f"{b.peak_mem_bytes / 2**20:.0f}",
        "B/A speed": f"{b.images_per_s / a.images_per_s:.3f}",
        "B/A memory": f"{b.peak_mem_bytes / max(a.peak_mem_bytes, 1):.3f}",
    }


def _write(
    out: str,
    command: str,
    machine_before: dict[str, str],
    rows: list[dict],
    extra_rows: list[dict],
    missing: list[str],
    no_reference: list[str],
    started: float,
) -> None:
    machine_after = describe_machine()
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = [
        "model", "reference", "setting", "ours img/s", "ours range", "ref img/s", "ref range",
        "ratio", "ratio range", "ours latency ms", "ours peak MiB", "ref peak MiB", "ours eff",
        "ref eff", "notes",
    ]  # fmt: skip
    with open(path.with_suffix(".csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)
    if extra_rows:
        with open(path.parent / (path.name + "_variants.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=_all_keys(extra_rows))
            w.writeheader()
            w.writerows(extra_rows)
    lines = [
        f"# Benchmark suite: {path.name}",
        "",
        f"Command: `{command}`",
        "",
        "Machine and versions (load average before -> after the run; the machine is shared):",
        "",
    ]
    for k, v in machine_before.items():
        after = machine_after.get(k, v)
        lines.append(f"- {k}: {v}" + (f" -> {after}" if after != v else ""))
    lines += [
        f"- duration: {time.time() - started:.0f} s; CUDA available: {torch.cuda.is_available()}",
        "",
        "Ratio = ours / reference images per second, median of per-round ratios of alternating "
        "runs (A B A B) in one process, same weights. Efficiency = achieved mult-adds/s over "
        "this machine's measured matmul peak for the dtype (training: 3x forward mult-adds). "
        "Peak memory: peak RSS above the resident size before an extra untimed step. "
        + (
            "Freed memory retained (classicnets.runtime.allocator) for the whole run, both sides."
            if memory_retained()
            else "glibc's default allocator settings."
        ),
        "",
        _md_table(rows, columns),
        "",
    ]
    if extra_rows:
        lines += ["## Within classicnets (alternating, one process)", "",
                  _md_table(extra_rows, _all_keys(extra_rows)), ""]  # fmt: skip
    if missing:
        lines.append("Not registered yet (skipped): " + ", ".join(f"`{m}`" for m in missing))
        lines.append("")
    if no_reference:
        lines.append("No reference model (measured alone):")
        lines += [f"- {r}" for r in no_reference]
        lines.append("")
    path.with_suffix(".md").write_text("\n".join(lines))
    print(f"wrote {path.with_suffix('.md')} and {path.with_suffix('.csv')}")


if __name__ == "__main__":
    sys.exit(main())
