#!/usr/bin/env bash
# Set up (if needed) and open NAS Explorer on its built-in default project.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
exec nas-explorer "$@"
