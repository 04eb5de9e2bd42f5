#!/usr/bin/env bash
# The papers' full CIFAR-10 schedules on a GPU, each run evaluated, then one summary table:
#   resnet20, resnet56   recipe resnet_cifar   (64k steps of 128; He et al. Table 6: 8.75%, 6.97%)
#   densenet_bc100_k12   recipe densenet_cifar (300 epochs of 64; Huang et al. Table 2: 4.51%)
#
#   bash scripts/gpu_paper_recipes.sh
#
# Run from a clone with ../shared beside it (the data is ../shared/datasets/cifar10-jpg.tar.gz,
# extracted once into ~/.cache/classicnets). Settings (environment variables):
#   DEVICE=cuda            passed to --device
#   SEEDS="0"              seeds to train, e.g. SEEDS="0 1 2"
#   OUT=runs/gpu-paper     one run directory per model and seed: OUT/<model>-seed<seed>
#   MODELS="resnet20 resnet56 densenet_bc100_k12"   a subset, in this order
#   WORKERS=min(nproc, 8)  data-loading processes (changes speed, not the weights)
#   DATA=../shared/datasets/cifar10-jpg.tar.gz       passed to --data-dir
#   EXTRA_ARGS=""          more arguments for `classicnets train` (a dry run, see below)
#   EVAL_ARGS=""           more arguments for `classicnets eval` (e.g. --limit 256)
# Resumable: rerun the same command and each unfinished run continues from its last.pt (saved
# every epoch, and on Ctrl-C / SIGTERM); finished runs are skipped. A run directory started
# with another command line is refused (use another OUT). Writes OUT/summary.md: final test
# error (`classicnets eval` of the final weights on all 10,000 test images), the paper's error,
# training and wall time, the machine. Commit it as benchmarks/results/gpu_paper_recipes.md.
#
# Dry run of the plumbing on CPU (a few seconds of training per model):
#   DEVICE=cpu OUT=/tmp/gpu-paper-dry EVAL_ARGS="--limit 64" \
#   EXTRA_ARGS="--steps 2 --batch-size 16 --set train_subset=256 --set test_subset=64 \
#     --set report=false --set tensorboard=false" bash scripts/gpu_paper_recipes.sh
source "$(dirname "$0")/venv.sh"  # set -euo pipefail, cd to the repository root, $PY

DEVICE="${DEVICE:-cuda}"
SEEDS="${SEEDS:-0}"
OUT="${OUT:-runs/gpu-paper}"
MODELS="${MODELS:-resnet20 resnet56 densenet_bc100_k12}"
cores="$(nproc 2>/dev/null || echo 1)"
WORKERS="${WORKERS:-$((cores < 8 ? cores : 8))}"
DATA="${DATA:-../shared/datasets/cifar10-jpg.tar.gz}"
EXTRA_ARGS="${EXTRA_ARGS:-}"
EVAL_ARGS="${EVAL_ARGS:-}"

recipe_of() {
  case "$1" in
    resnet20 | resnet56) echo resnet_cifar ;;
    densenet_bc100_k12) echo densenet_cifar ;;
    *) echo "unknown model $1 (this script runs resnet20, resnet56, densenet_bc100_k12)" >&2
       return 1 ;;
  esac
}

if [ ! -e "$DATA" ]; then
  echo "no CIFAR-10 at $DATA (expected ../shared/datasets/cifar10-jpg.tar.gz beside the" \
    "clone; set DATA to the archive or an extracted ImageFolder copy)" >&2
  exit 1
fi
DATA="$(cd "$(dirname "$DATA")" && pwd)/$(basename "$DATA")"
if [[ "$DEVICE" == cuda* ]] && ! "$PY" -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
  echo "DEVICE=$DEVICE but PyTorch sees no CUDA device (nvidia-smi, the torch build?)" >&2
  exit 1
fi
for model in $MODELS; do recipe_of "$model" >/dev/null; done
mkdir -p "$OUT"
# shellcheck disable=SC2206  # EXTRA_ARGS and EVAL_ARGS are word lists on purpose
extra=($EXTRA_ARGS)
# shellcheck disable=SC2206
eval_extra=($EVAL_ARGS)

for seed in $SEEDS; do
  for model in $MODELS; do
    run="$OUT/$model-seed$seed"
    recipe="$(recipe_of "$model")"
    cmd=("$PY" -m classicnets train --recipe "$recipe" --model "$model" --data-dir "$DATA"
      --run-dir "$run" --device "$DEVICE" --seed "$seed" --quiet "${extra[@]}")
    # what decides the weights (not the device or workers, which may differ between sessions)
    key="train --recipe $recipe --model $model --data-dir $DATA --seed $seed $EXTRA_ARGS"
    mkdir -p "$run"
    if [ -f "$run/command.txt" ] && [ "$(cat "$run/command.txt")" != "$key" ]; then
      echo "$run was started with another command:" >&2
      echo "  $(cat "$run/command.txt")" >&2
      echo "now: $key" >&2
      echo "use another OUT, or delete $run" >&2
      exit 1
    fi
    echo "$key" >"$run/command.txt"
    if [ -f "$run/summary.json" ]; then
      echo "== $model seed $seed: trained ($run/summary.json)"
    else
      echo "== $model seed $seed: $recipe into $run ($(date '+%F %T'))"
      start=$(date +%s)
      "${cmd[@]}" --workers "$WORKERS" 2>&1 | tee -i -a "$run/train.log"
      echo "$(($(date +%s) - start))" >>"$run/wall_seconds.log"
    fi
    if [ ! -f "$run/summary.json" ]; then  # stopped early (stop_after): no final weights yet
      echo "== $model seed $seed: not finished; run the same command again to continue"
      continue
    fi
    if [ ! "$run/eval_center.json" -nt "$run/model.safetensors" ]; then
      echo "== $model seed $seed: evaluating $run/model.safetensors"
      start=$(date +%s)
      evaluated=model.safetensors
      if ! "$PY" -m classicnets eval -c "$run/model.safetensors" --device "$DEVICE" --out "$run" \
        --quiet "${eval_extra[@]}" 2>&1 | tee -i "$run/eval.log"; then
        # A safetensors file whose header length ends in byte 0x80 is taken for a pickle by
        # weights/files.py's format sniffing and loses its metadata; last.pt holds the same
        # final weights (the EMA when there is one, as model.safetensors does).
        echo "warning: eval of $run/model.safetensors failed; evaluating $run/last.pt" >&2
        evaluated=last.pt
        "$PY" -m classicnets eval -c "$run/last.pt" --device "$DEVICE" --out "$run" --quiet \
          "${eval_extra[@]}" 2>&1 | tee -i -a "$run/eval.log"
      fi
      echo "$evaluated" >"$run/evaluated.txt"
      echo "$(($(date +%s) - start))" >>"$run/wall_seconds.log"
    fi
  done
done

gpu="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1 || true)"
OUT="$OUT" SEEDS="$SEEDS" MODELS="$MODELS" DEVICE="$DEVICE" GPU="$gpu" \
  EXTRA_ARGS="$EXTRA_ARGS" EVAL_ARGS="$EVAL_ARGS" "$PY" - <<'EOF'
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

import torch

from classicnets.tools.bench.machine import cpu_name

PAPER = {  # model: (recipe, paper's CIFAR-10+ test error %, source)
    "resnet20": ("resnet_cifar", 8.75, "He et al. 2015, Table 6"),
    "resnet56": ("resnet_cifar", 6.97, "He et al. 2015, Table 6"),
    "densenet_bc100_k12": ("densenet_cifar", 4.51, "Huang et al. 2017, Table 2"),
}
out = Path(os.environ["OUT"])
gpu = os.environ["GPU"].strip()
machine = f"{gpu} (GPU), {cpu_name()} ({os.cpu_count()} cores)" if gpu else f"{cpu_name()} ({os.cpu_count()} cores), no GPU"
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
extra, eval_extra = os.environ["EXTRA_ARGS"].strip(), os.environ["EVAL_ARGS"].strip()
lines = ["# Paper recipes on CIFAR-10", ""]
if extra or eval_extra:
    lines += [f"**Not the papers' schedules**: EXTRA_ARGS=`{extra}` EVAL_ARGS=`{eval_extra}`.", ""]
lines += [
    f"`bash scripts/gpu_paper_recipes.sh` (DEVICE={os.environ['DEVICE']}, "
    f"SEEDS=\"{os.environ['SEEDS']}\"), commit {commit or '?'}, written {time.strftime('%Y-%m-%d %H:%M')}.",
    f"Machine: {machine}; torch {torch.__version__}.",
    "",
    "Final weights (not the best epoch): the run's model.safetensors (or its last.pt where marked),",
    "evaluated with `classicnets eval` (centre view). The data",
    "is the JPEG copy of CIFAR-10 (../shared/datasets/cifar10-jpg.tar.gz): its pixels differ",
    "slightly from the original release, so errors land near, not exactly on, the papers'.",
    "Training time: the steps only (summary.json); wall time: everything this script ran for",
    "the run (data setup, per-epoch evaluation, checkpoints, the final eval), over all sessions.",
    "",
    "| model | recipe | seed | steps | test error | images | paper | difference | training | wall | train images/s |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
]
errors: dict[str, list[float]] = {}


def hours(s: float) -> str:
    return f"{s / 3600:.2f} h" if s >= 360 else f"{s:.0f} s"


for seed in os.environ["SEEDS"].split():
    for model in os.environ["MODELS"].split():
        run = out / f"{model}-seed{seed}"
        recipe, paper, _ = PAPER[model]
        ev_file, sm_file = run / "eval_center.json", run / "summary.json"
        if not (ev_file.is_file() and sm_file.is_file()):
            lines.append(f"| {model} | {recipe} | {seed} | unfinished | | | {paper:.2f}% | | | | |")
            continue
        ev, sm = json.loads(ev_file.read_text()), json.loads(sm_file.read_text())
        err = 100 * (1 - ev["top1"])
        errors.setdefault(model, []).append(err)
        wall_log = run / "wall_seconds.log"
        wall = sum(int(x) for x in wall_log.read_text().split()) if wall_log.is_file() else 0
        src = run / "evaluated.txt"
        note = " (last.pt)" if src.is_file() and src.read_text().strip() == "last.pt" else ""
        lines.append(
            f"| {model} | {recipe} | {seed} | {sm['steps']:,} | **{err:.2f}%**{note} | {ev['images']:,} "
            f"| {paper:.2f}% | {err - paper:+.2f} | {hours(sm['train_seconds'])} | {hours(wall)} "
            f"| {sm['images_per_s']:,.0f} |"
        )
if any(len(v) > 1 for v in errors.values()):
    lines += ["", "| model | seeds | mean error | std | paper |", "|---|---|---|---|---|"]
    for model, v in errors.items():
        sd = statistics.stdev(v) if len(v) > 1 else 0.0
        lines.append(f"| {model} | {len(v)} | {statistics.mean(v):.2f}% | {sd:.2f} | {PAPER[model][1]:.2f}% |")
lines += ["", "Papers: " + "; ".join(f"{m}: {PAPER[m][2]}" for m in PAPER) + "."]
(out / "summary.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
print(f"\nwritten: {out / 'summary.md'} (commit it as benchmarks/results/gpu_paper_recipes.md)")
EOF
