# Sourced by the other scripts: create .venv (or $CLASSICNETS_VENV) and install the project.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${CLASSICNETS_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating $VENV (first run: installs PyTorch, about two minutes)" >&2
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[dev]" 2>&1 \
  | grep -v "is ignored: it is neither a file nor a directory" >&2 || true
"$VENV/bin/python" -c "import classicnets" || { echo "installation failed" >&2; exit 1; }
PY="$VENV/bin/python"
