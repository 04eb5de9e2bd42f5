#!/usr/bin/env bash
# The main job: check every registered model against its paper's figures.
source "$(dirname "$0")/venv.sh"
exec "$PY" -m classicnets verify "$@"
