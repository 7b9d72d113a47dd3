#!/usr/bin/env bash
# Makes (or refreshes) the project's Python environment at .work/py from tools/python/requirements.txt.
# Idempotent: a second run with unchanged requirements does nothing. Prints the interpreter's path last.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.work/py
req=tools/python/requirements.txt
stamp=$venv/.requirements-hash
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "==> python environment $venv (first install downloads PyTorch with its CUDA libraries; pip's cache serves later ones)" >&2
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip >&2
  "$venv/bin/python" -m pip install --quiet --progress-bar off -r "$req" >&2
  echo "$want" > "$stamp"
fi
echo "$PWD/$venv/bin/python"
