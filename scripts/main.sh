#!/usr/bin/env bash
# The main job. Today it brings up the infrastructure and the metrics sink and shows them healthy
# (the curation -> training -> evaluation -> leaderboard run is added as those services land).
set -euo pipefail
cd "$(dirname "$0")/.."
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false

bash scripts/setup.sh
bash infra/infra.sh up
npx nx run-many -t build --outputStyle=static >/dev/null

echo "==> starting the metrics sink"
node packages/metrics-sink/dist/main.js > .work-sink.log 2>&1 &
sink=$!
trap 'kill -TERM $sink 2>/dev/null; wait $sink 2>/dev/null || true' EXIT
ch=${CLICKHOUSE_URL:-http://127.0.0.1:8123}
for _ in $(seq 1 60); do
  tables=$(curl -fsS "$ch/?query=SHOW%20TABLES%20FROM%20${CLICKHOUSE_DATABASE:-select}" 2>/dev/null || true)
  if echo "$tables" | grep -q evaluation_results; then break; fi
  kill -0 $sink 2>/dev/null || { echo "metrics sink exited:" >&2; tail -20 .work-sink.log >&2; exit 1; }
  sleep 1
done
bash infra/infra.sh status
echo "==> ClickHouse tables:"; echo "$tables"
kill -0 $sink && echo "==> metrics sink running (pid $sink), healthy"
