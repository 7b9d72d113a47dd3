#!/usr/bin/env bash
# The test command: installs what is missing, starts local Kafka + ClickHouse (unless KAFKA_BROKERS /
# CLICKHOUSE_URL point at existing clusters), builds, lints, typechecks and runs every test once.
# Infrastructure this script started is stopped again at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false NX_SKIP_NX_CACHE=${NX_SKIP_NX_CACHE:-false}

bash scripts/setup.sh

started_infra=0
if ! bash infra/infra.sh status >/dev/null 2>&1; then
  started_infra=1
fi
bash infra/infra.sh up
if [ "$started_infra" = 1 ] && [ "${SELECT_KEEP_INFRA:-0}" != 1 ]; then
  trap 'bash infra/infra.sh down || true' EXIT
fi

echo "==> build, lint, typecheck"
npx nx run-many -t build lint typecheck --parallel=2 --outputStyle=static

echo "==> tests"
npx vitest run "$@"
