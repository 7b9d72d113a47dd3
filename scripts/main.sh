#!/usr/bin/env bash
# The main job. Today it brings up the infrastructure and the metrics sink and shows them healthy
# (the curation -> training -> evaluation -> leaderboard run is added as those services land).
# Every step is a `select` command (packages/cli); `npx select --help` lists them.
set -euo pipefail
cd "$(dirname "$0")/.."
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false

bash scripts/setup.sh
# The CLI and what it runs (the sink and the libraries): built with their dependencies first.
npx nx run @select/cli:build --outputStyle=static >/dev/null
# `select` is a bash keyword, so the command is called through this array (same as `npx select`).
select_cli=(node packages/cli/bin/select.js)

"${select_cli[@]}" infra up

echo "==> starting the metrics sink (log: .work-sink.log)"
"${select_cli[@]}" sink > .work-sink.log 2>&1 &
sink=$!
trap 'kill -TERM $sink 2>/dev/null; wait $sink 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do
  "${select_cli[@]}" status >/dev/null 2>&1 && break
  kill -0 $sink 2>/dev/null || { echo "metrics sink exited:" >&2; tail -20 .work-sink.log >&2; exit 1; }
  sleep 1
done

echo "==> health"
"${select_cli[@]}" status
echo "==> event topics"
"${select_cli[@]}" topics
echo "==> metric tables (as the read-only SQL user)"
"${select_cli[@]}" sql "SELECT name, engine FROM system.tables WHERE database = currentDatabase() ORDER BY name"
