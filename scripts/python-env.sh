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
  # The environment is about 7 GiB; pip also unpacks wheels in the temporary directory and caches them (~4 GiB).
  # Say so up front rather than fail half-way with pip's "[Errno 28] No space left on device".
  need_gib=10
  for dir in .work "${TMPDIR:-/tmp}"; do
    avail_kib=$(df -Pk "$dir" | awk 'NR == 2 { print $4 }')
    if [ "$avail_kib" -lt $((need_gib * 1024 * 1024)) ]; then
      echo "python environment: needs about ${need_gib} GiB free for PyTorch with its CUDA libraries; $dir has $((avail_kib / 1024 / 1024)) GiB free ($(df -P "$dir" | awk 'NR == 2 { print $6 }')). Free some space and rerun." >&2
      exit 1
    fi
  done
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip >&2
  "$venv/bin/python" -m pip install --quiet --progress-bar off -r "$req" >&2
  echo "$want" > "$stamp"
fi
echo "$PWD/$venv/bin/python"
