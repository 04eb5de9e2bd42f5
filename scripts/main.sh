#!/usr/bin/env bash
# The main job: train ResNet-20 on the embedded digits (src/classicnets/training/recipes/digits.toml) and evaluate it.
# Extra arguments go to `classicnets train` (e.g. --epochs 5, --quiet, --set lr=0.05).
# The paper checks are `classicnets verify` (`.venv/bin/python -m classicnets verify`).
source "$(dirname "$0")/venv.sh"
exec "$PY" -m classicnets train "$@"
