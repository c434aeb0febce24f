#!/usr/bin/env bash
# Create .venv and install NAS Explorer with its test tools.
# torch is installed first, pinned to the local CPU wheel (2.13.0) where one is available, so that the
# project's range requirement (torch>=2.2,<3) never pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip
if ! python -c "import torch" 2>/dev/null; then
  python -m pip install -q "torch==2.13.0" || python -m pip install -q "torch>=2.2,<3"
fi
python -m pip install -q -e ".[test]"
