#!/usr/bin/env bash
# Set up a virtual environment with the CLI and run the pycrm demo (arguments pass through,
# e.g. `bash scripts/demo.sh --locale ja_JP`).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[cli]" 2>&1 \
  | grep -v "^WARNING: Location" || true
exec .venv/bin/pycrm demo "$@"
