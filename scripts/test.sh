#!/usr/bin/env bash
# The test suite: lint, then the default (not slow) tests. Extra arguments go to pytest.
source "$(dirname "$0")/venv.sh"
"$PY" -m ruff check .
"$PY" -m ruff format --check .
exec "$PY" -m pytest "$@"
