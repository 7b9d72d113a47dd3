#!/usr/bin/env bash
# Local infrastructure for the "select" monorepo: a single-node Apache Kafka
# (KRaft, broker+controller in one JVM) and a ClickHouse server, both run as
# plain background processes from a project-local data directory.
#
#   bash infra/infra.sh up                 install what is missing, start both, wait until ready
#   bash infra/infra.sh down               stop both (graceful, then SIGKILL after a timeout)
#   bash infra/infra.sh status             one line per component; exit 1 unless all are ready
#   bash infra/infra.sh start|stop [kafka|clickhouse]
#   bash infra/infra.sh restart [kafka|clickhouse]
#   bash infra/infra.sh logs [kafka|clickhouse] [-f] [-n N]
#   bash infra/infra.sh env                print export lines (KAFKA_BROKERS, CLICKHOUSE_URL, ...)
#   bash infra/infra.sh reset              down + delete all data, logs and generated config
#
# See infra/README.md for ports, environment variables and the Kafka version choice.
set -euo pipefail

INFRA_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# ---------------------------------------------------------------- settings ---
DATA_DIR="${SELECT_INFRA_DIR:-$INFRA_SRC/.data}"
mkdir -p "$DATA_DIR"
DATA_DIR="$(cd "$DATA_DIR" && pwd)"

KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
CLICKHOUSE_HTTP_PORT="${CLICKHOUSE_HTTP_PORT:-8123}"
CLICKHOUSE_TCP_PORT="${CLICKHOUSE_TCP_PORT:-9000}"
CLICKHOUSE_READER_PASSWORD="${CLICKHOUSE_READER_PASSWORD:-reader}"
# 1: read-only, no settings changes at all (also no SETTINGS clause / URL settings);
# 2: read-only but settings may be changed per query.
CLICKHOUSE_READER_READONLY="${CLICKHOUSE_READER_READONLY:-1}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
# C1-only JIT: starts noticeably faster and burns less CPU on a 2-core box;
# plenty for a dev/test broker. Set KAFKA_OPTS (even to " ") to override.
KAFKA_OPTS="${KAFKA_OPTS:--XX:TieredStopAtLevel=1}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
CLICKHOUSE_START_TIMEOUT="${CLICKHOUSE_START_TIMEOUT:-60}"
STOP_TIMEOUT="${INFRA_STOP_TIMEOUT:-30}"
HOST=127.0.0.1

KAFKA_HOME="$DATA_DIR/kafka"
KAFKA_LIBS="$KAFKA_HOME/libs"
KAFKA_DATA="$KAFKA_HOME/data"
KAFKA_LOGS="$KAFKA_HOME/logs"
KAFKA_PROPS="$KAFKA_HOME/server.properties"
KAFKA_LOG4J="$KAFKA_HOME/log4j2.properties"
KAFKA_PID="$KAFKA_HOME/kafka.pid"
KAFKA_POM="$INFRA_SRC/kafka/pom.xml"

CH_HOME="$DATA_DIR/clickhouse"
CH_DATA="$CH_HOME/data"
CH_LOGS="$CH_HOME/logs"
CH_CONFIG="$CH_HOME/config.xml"
CH_USERS="$CH_HOME/users.xml"
CH_PID="$CH_HOME/clickhouse.pid"

LOCAL_KAFKA_BROKERS="$HOST:$KAFKA_PORT"
LOCAL_CLICKHOUSE_URL="http://$HOST:$CLICKHOUSE_HTTP_PORT"

# KAFKA_BROKERS / CLICKHOUSE_URL pointing somewhere other than the local
# defaults mean "use that external cluster; do not run one here".
kafka_external() {
  [[ -n "${KAFKA_BROKERS:-}" ]] || return 1
  case "$KAFKA_BROKERS" in
    "$HOST:$KAFKA_PORT" | "localhost:$KAFKA_PORT") return 1 ;;
  esac
  return 0
}
clickhouse_external() {
  [[ -n "${CLICKHOUSE_URL:-}" ]] || return 1
  local u="${CLICKHOUSE_URL%/}"
  case "$u" in
    "http://$HOST:$CLICKHOUSE_HTTP_PORT" | "http://localhost:$CLICKHOUSE_HTTP_PORT") return 1 ;;
  esac
  return 0
}
kafka_brokers() { if kafka_external; then echo "$KAFKA_BROKERS"; else echo "$LOCAL_KAFKA_BROKERS"; fi; }
clickhouse_url() { if clickhouse_external; then echo "${CLICKHOUSE_URL%/}"; else echo "$LOCAL_CLICKHOUSE_URL"; fi; }

# ----------------------------------------------------------------- helpers ---
log() { printf '[infra] %s\n' "$*" >&2; }
die() { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }

# Serialise mutating commands (several test runners may call `up` at once).
take_lock() {
  exec 9>"$DATA_DIR/.lock"
  if ! flock -w 300 9; then die "could not lock $DATA_DIR/.lock within 300 s"; fi
}

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else
    die "need root to run: $*"
  fi
}

APT_UPDATED=0
apt_install() {
  (($# > 0)) || return 0
  log "installing missing packages: $*"
  export DEBIAN_FRONTEND=noninteractive
  if ((APT_UPDATED == 0)); then
    as_root apt-get update -qq >/dev/null || die "apt-get update failed"
    APT_UPDATED=1
  fi
  # clickhouse-server's postinst would start the system service (on our
  # ports, as the clickhouse user) via invoke-rc.d; a temporary policy-rc.d
  # that answers 101 ("action forbidden") keeps it from doing so.
  local policy=/usr/sbin/policy-rc.d made_policy=0 rc=0
  if [[ ! -e "$policy" ]]; then
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' >$policy && chmod 755 $policy" && made_policy=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" </dev/null >/dev/null || rc=$?
  ((made_policy)) && as_root rm -f "$policy"
  ((rc == 0)) || die "apt-get install $* failed"
}

ensure_packages() {
  local want=() need_kafka=1 need_ch=1
  kafka_external && need_kafka=0
  clickhouse_external && need_ch=0
  command -v curl >/dev/null || want+=(curl)
  command -v flock >/dev/null || want+=(util-linux)
  command -v kcat >/dev/null || want+=(kcat)
  command -v clickhouse-client >/dev/null || want+=(clickhouse-client)
  if ((need_ch)); then
    command -v clickhouse-server >/dev/null || [[ -x /usr/sbin/clickhouse-server ]] || want+=(clickhouse-server)
  fi
  if ((need_kafka)); then
    command -v java >/dev/null || want+=(openjdk-17-jre-headless)
    command -v mvn >/dev/null || want+=(maven)
  fi
  apt_install "${want[@]}"
}

clickhouse_server_bin() {
  if command -v clickhouse-server >/dev/null; then command -v clickhouse-server; else echo /usr/sbin/clickhouse-server; fi
}

# Is something listening on 127.0.0.1:$1 ?
port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

port_owner() {
  if command -v ss >/dev/null; then ss -ltnpH "sport = :$1" 2>/dev/null | head -3; fi
}

# pid from a pid file if that process is alive and its command line contains $2.
live_pid() {
  local file=$1 marker=$2 pid
  [[ -s "$file" ]] || return 1
  pid=$(<"$file")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker" || return 1
  # a zombie is not alive
  [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]] || return 1
  echo "$pid"
}

# Start "$@" detached (own session, no stdin), writing its pid to $1 and
# stdout/stderr to $2.
spawn() {
  local pidfile=$1 out=$2
  shift 2
  rm -f "$pidfile"
  # bash -c writes its own pid and then execs, so the pid file holds the real
  # server pid whether or not setsid had to fork.
  # 9>&- : the server must not inherit (and so hold forever) the flock fd.
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" </dev/null >>"$out" 2>&1 9>&- &
  local i
  for i in $(seq 1 50); do [[ -s "$pidfile" ]] && return 0; sleep 0.1; done
  die "process did not start: $*"
}

stop_pid() {
  local name=$1 pid=$2 i
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" == Z ]] && return 0
    sleep 0.1
  done
  log "$name did not exit within ${STOP_TIMEOUT}s, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
}

tail_log() {
  local f
  for f in "$@"; do
    [[ -s "$f" ]] || continue
    printf '%s\n' "----- last lines of $f -----" >&2
    tail -n 40 "$f" >&2
  done
}

check_port_free() {
  local name=$1 port=$2
  if port_open "$port"; then
    local owner
    owner=$(port_owner "$port")
    die "$name: port $HOST:$port is already in use by another process${owner:+: $owner}. Stop it, or pick other ports (see infra/README.md)."
  fi
}

# ------------------------------------------------------------------- kafka ---
kafka_pid() {
  live_pid "$KAFKA_PID" "$KAFKA_PROPS" && return 0
  # pid file lost: look for a broker started with our config file
  local p
  p=$(pgrep -f -- "kafka.Kafka $KAFKA_PROPS" 2>/dev/null | head -1) || true
  [[ -n "$p" ]] && echo "$p"
}

kafka_ready() {
  local brokers=${1:-$LOCAL_KAFKA_BROKERS} out
  out=$(timeout 10 kcat -b "$brokers" -L -m 5 -X topic.metadata.refresh.interval.ms=-1 2>/dev/null) || return 1
  grep -qE '^ *[1-9][0-9]* brokers:' <<<"$out"
}

kafka_install_libs() {
  local stamp want
  want=$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)
  stamp="$KAFKA_LIBS/.pom.sha256"
  if [[ -f "$stamp" && "$(<"$stamp")" == "$want" ]] && compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null; then
    return 0
  fi
  log "resolving Kafka jars with Maven (cached in ~/.m2) -> $KAFKA_LIBS"
  local tmp="$KAFKA_HOME/libs.tmp"
  rm -rf "$tmp"
  mkdir -p "$KAFKA_HOME"
  if ! mvn -q -B -Dstyle.color=never -f "$KAFKA_POM" dependency:copy-dependencies \
    -DoutputDirectory="$tmp" </dev/null >"$KAFKA_HOME/mvn.log" 2>&1; then
    tail -n 40 "$KAFKA_HOME/mvn.log" >&2
    die "Maven could not resolve the Kafka jars (log: $KAFKA_HOME/mvn.log)"
  fi
  echo "$want" >"$tmp/.pom.sha256"
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
}

kafka_write_config() {
  mkdir -p "$KAFKA_DATA" "$KAFKA_LOGS"
  cat >"$KAFKA_PROPS" <<EOF
# Generated by infra/infra.sh -- edits are overwritten on every start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DATA

# topics are created explicitly by the code
auto.create.topics.enable=false
delete.topic.enable=true
num.partitions=1
default.replication.factor=1
min.insync.replicas=1

# single node: every internal topic has one replica
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# dev/test friendliness: no 3 s wait before the first consumer-group rebalance
group.initial.rebalance.delay.ms=0

# single node: the broker's lease at its own controller. With the default (9 s) a broker starved of CPU
# for a few seconds (a loaded 2-core machine) misses its heartbeats and fences itself: every partition
# loses its leader, and producers and consumer groups fail until it is unfenced again. There is no other
# broker to hand the partitions to, so fencing never helps here.
broker.session.timeout.ms=120000
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=168
log.segment.bytes=104857600
EOF
  cat >"$KAFKA_LOG4J" <<'EOF'
# Generated by infra/infra.sh
status = warn
name = select-kafka
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.filePattern = ${sys:kafka.logs.dir}/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = WARN
EOF
}

# java command line shared by the StorageTool and the broker
kafka_java_cmd() {
  # shellcheck disable=SC2206
  local heap=($KAFKA_HEAP_OPTS) extra=(${KAFKA_OPTS:-})
  KAFKA_JAVA=(java "${heap[@]}" "${extra[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$KAFKA_LOG4J" "-Dkafka.logs.dir=$KAFKA_LOGS"
    -cp "$KAFKA_LIBS/*")
}

# A Kafka cluster id: 16 random bytes, base64url without padding. One that starts
# with '-' reads as an option to the StorageTool's argument parser ("--cluster-id:
# expected one argument"; 1 format in 64 failed so): Kafka's own Uuid.randomUuid()
# draws again in that case, and so does this.
kafka_cluster_id() {
  local id=-
  while [[ $id == -* ]]; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
  done
  printf '%s\n' "$id"
}

kafka_format() {
  [[ -f "$KAFKA_DATA/meta.properties" ]] && return 0
  local id
  id=$(kafka_cluster_id)
  log "formatting Kafka storage (cluster id $id)"
  kafka_java_cmd
  if ! "${KAFKA_JAVA[@]}" kafka.tools.StorageTool format -t "$id" -c "$KAFKA_PROPS" --ignore-formatted \
    </dev/null >"$KAFKA_LOGS/format.log" 2>&1; then
    tail -n 40 "$KAFKA_LOGS/format.log" >&2
    die "kafka storage format failed (log: $KAFKA_LOGS/format.log)"
  fi
}

kafka_wait_ready() {
  local pid=$1 t0=$SECONDS
  while ((SECONDS - t0 < KAFKA_START_TIMEOUT)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail_log "$KAFKA_LOGS/kafka.out" "$KAFKA_LOGS/server.log"
      die "kafka exited during startup (logs: $KAFKA_LOGS)"
    fi
    kafka_ready && return 0
    sleep 0.5
  done
  tail_log "$KAFKA_LOGS/kafka.out" "$KAFKA_LOGS/server.log"
  die "kafka not ready on $LOCAL_KAFKA_BROKERS after ${KAFKA_START_TIMEOUT}s (logs: $KAFKA_LOGS; pid $pid still running)"
}

kafka_start() {
  if kafka_external; then
    log "kafka: KAFKA_BROKERS=$KAFKA_BROKERS is external, not starting a local broker"
    local t0=$SECONDS
    until kafka_ready "$KAFKA_BROKERS"; do
      ((SECONDS - t0 < 20)) || die "external kafka $KAFKA_BROKERS is not reachable (kcat -b $KAFKA_BROKERS -L failed)"
      sleep 1
    done
    log "kafka: external $KAFKA_BROKERS reachable"
    return 0
  fi
  local pid
  if pid=$(kafka_pid); then
    kafka_wait_ready "$pid"
    log "kafka: already running (pid $pid) on $LOCAL_KAFKA_BROKERS"
    return 0
  fi
  check_port_free kafka "$KAFKA_PORT"
  check_port_free kafka-controller "$KAFKA_CONTROLLER_PORT"
  kafka_install_libs
  kafka_write_config
  kafka_format
  local t0=$SECONDS
  log "kafka: starting broker+controller on $LOCAL_KAFKA_BROKERS (controller $HOST:$KAFKA_CONTROLLER_PORT)"
  : >>"$KAFKA_LOGS/kafka.out"
  kafka_java_cmd
  spawn "$KAFKA_PID" "$KAFKA_LOGS/kafka.out" "${KAFKA_JAVA[@]}" kafka.Kafka "$KAFKA_PROPS"
  pid=$(<"$KAFKA_PID")
  kafka_wait_ready "$pid"
  log "kafka: ready (pid $pid) in $((SECONDS - t0))s"
}

kafka_stop() {
  if kafka_external; then log "kafka: external ($KAFKA_BROKERS), nothing to stop"; return 0; fi
  local pid
  if pid=$(kafka_pid); then
    stop_pid kafka "$pid"
  else
    log "kafka: not running"
  fi
  rm -f "$KAFKA_PID"
}

# -------------------------------------------------------------- clickhouse ---
clickhouse_pid() {
  live_pid "$CH_PID" "$CH_CONFIG" && return 0
  local p
  p=$(pgrep -f -- "--config-file=$CH_CONFIG" 2>/dev/null | head -1) || true
  [[ -n "$p" ]] && echo "$p"
}

clickhouse_ready() {
  local url=${1:-$LOCAL_CLICKHOUSE_URL} out
  out=$(curl -sS --max-time 3 "$url/ping" 2>/dev/null) || return 1
  [[ "$out" == Ok.* ]]
}

xml_escape() {
  local s=$1
  # replacements are quoted: with bash 5.2's patsub_replacement an unquoted
  # '&' in the replacement would stand for the matched text
  s=${s//'&'/'&amp;'}
  s=${s//'<'/'&lt;'}
  s=${s//'>'/'&gt;'}
  s=${s//'"'/'&quot;'}
  s=${s//"'"/'&apos;'}
  printf '%s' "$s"
}

clickhouse_write_config() {
  mkdir -p "$CH_DATA" "$CH_HOME/tmp" "$CH_HOME/user_files" "$CH_HOME/format_schemas" "$CH_LOGS"
  # ClickHouse 18.16 config format: root element <yandex>.
  cat >"$CH_CONFIG" <<EOF
<?xml version="1.0"?>
<!-- Generated by infra/infra.sh; edits are overwritten on every start. -->
<yandex>
    <logger>
        <level>information</level>
        <log>$CH_LOGS/clickhouse-server.log</log>
        <errorlog>$CH_LOGS/clickhouse-server.err.log</errorlog>
        <size>50M</size>
        <count>3</count>
    </logger>
    <http_port>$CLICKHOUSE_HTTP_PORT</http_port>
    <tcp_port>$CLICKHOUSE_TCP_PORT</tcp_port>
    <listen_host>$HOST</listen_host>
    <max_connections>1024</max_connections>
    <keep_alive_timeout>10</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>$CH_DATA/</path>
    <tmp_path>$CH_HOME/tmp/</tmp_path>
    <user_files_path>$CH_HOME/user_files/</user_files_path>
    <format_schema_path>$CH_HOME/format_schemas/</format_schema_path>
    <users_config>$CH_USERS</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
</yandex>
EOF
  local pw
  pw=$(xml_escape "$CLICKHOUSE_READER_PASSWORD")
  cat >"$CH_USERS" <<EOF
<?xml version="1.0"?>
<!-- Generated by infra/infra.sh; edits are overwritten on every start. -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>random</load_balancing>
        </default>
        <!-- for ad-hoc user SQL: readonly forbids INSERT/CREATE/ALTER/DROP;
             readonly=1 also forbids changing any setting (SET, SETTINGS, URL params) -->
        <reader>
            <readonly>$CLICKHOUSE_READER_READONLY</readonly>
            <max_memory_usage>2000000000</max_memory_usage>
            <max_execution_time>60</max_execution_time>
        </reader>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
        <select_reader>
            <password>$pw</password>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>reader</profile>
            <quota>default</quota>
        </select_reader>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
  chmod 600 "$CH_USERS"
}

clickhouse_wait_ready() {
  local pid=$1 t0=$SECONDS
  while ((SECONDS - t0 < CLICKHOUSE_START_TIMEOUT)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail_log "$CH_LOGS/clickhouse.out" "$CH_LOGS/clickhouse-server.err.log" "$CH_LOGS/clickhouse-server.log"
      die "clickhouse exited during startup (logs: $CH_LOGS)"
    fi
    clickhouse_ready && return 0
    sleep 0.3
  done
  tail_log "$CH_LOGS/clickhouse.out" "$CH_LOGS/clickhouse-server.err.log" "$CH_LOGS/clickhouse-server.log"
  die "clickhouse not ready on $LOCAL_CLICKHOUSE_URL after ${CLICKHOUSE_START_TIMEOUT}s (logs: $CH_LOGS; pid $pid still running)"
}

clickhouse_start() {
  if clickhouse_external; then
    local url
    url=$(clickhouse_url)
    log "clickhouse: CLICKHOUSE_URL=$url is external, not starting a local server"
    local t0=$SECONDS
    until clickhouse_ready "$url"; do
      ((SECONDS - t0 < 20)) || die "external clickhouse $url is not reachable ($url/ping did not answer Ok.)"
      sleep 1
    done
    log "clickhouse: external $url reachable"
    return 0
  fi
  local pid
  if pid=$(clickhouse_pid); then
    clickhouse_wait_ready "$pid"
    log "clickhouse: already running (pid $pid) on $LOCAL_CLICKHOUSE_URL"
    return 0
  fi
  check_port_free clickhouse-http "$CLICKHOUSE_HTTP_PORT"
  check_port_free clickhouse-tcp "$CLICKHOUSE_TCP_PORT"
  [[ "$CLICKHOUSE_READER_READONLY" =~ ^[12]$ ]] || die "CLICKHOUSE_READER_READONLY must be 1 or 2"
  clickhouse_write_config
  local t0=$SECONDS
  log "clickhouse: starting on http $LOCAL_CLICKHOUSE_URL, native tcp $HOST:$CLICKHOUSE_TCP_PORT"
  : >>"$CH_LOGS/clickhouse.out"
  # ClickHouse 18.16 runs fine as root (the "run as the owner of the data
  # directory" check only arrived in later releases), so it runs as whoever
  # runs this script, with a data directory owned by that user.
  spawn "$CH_PID" "$CH_LOGS/clickhouse.out" "$(clickhouse_server_bin)" --config-file="$CH_CONFIG"
  pid=$(<"$CH_PID")
  clickhouse_wait_ready "$pid"
  log "clickhouse: ready (pid $pid) in $((SECONDS - t0))s"
}

clickhouse_stop() {
  if clickhouse_external; then log "clickhouse: external ($(clickhouse_url)), nothing to stop"; return 0; fi
  local pid
  if pid=$(clickhouse_pid); then
    stop_pid clickhouse "$pid"
  else
    log "clickhouse: not running"
  fi
  rm -f "$CH_PID"
}

# ---------------------------------------------------------------- commands ---
components() {
  case "${1:-all}" in
    all | "") echo "clickhouse kafka" ;;
    kafka | clickhouse) echo "$1" ;;
    ch) echo clickhouse ;;
    *) die "unknown component '$1' (expected kafka or clickhouse)" ;;
  esac
}

cmd_start() {
  components "${1:-all}" >/dev/null
  take_lock
  ensure_packages
  local c
  for c in $(components "${1:-all}"); do "${c}_start"; done
}

cmd_stop() {
  components "${1:-all}" >/dev/null
  take_lock
  local c
  for c in $(components "${1:-all}"); do "${c}_stop"; done
}

cmd_status() {
  local ok=0 pid
  if kafka_external; then
    if kafka_ready "$KAFKA_BROKERS"; then
      printf '%-11s %-12s %s\n' kafka "external-up" "brokers $KAFKA_BROKERS"
    else
      printf '%-11s %-12s %s\n' kafka "external-DOWN" "brokers $KAFKA_BROKERS"; ok=1
    fi
  elif pid=$(kafka_pid); then
    if kafka_ready; then
      printf '%-11s %-12s %s\n' kafka running "pid $pid, broker $LOCAL_KAFKA_BROKERS, controller $HOST:$KAFKA_CONTROLLER_PORT"
    else
      printf '%-11s %-12s %s\n' kafka not-ready "pid $pid, broker $LOCAL_KAFKA_BROKERS does not answer metadata requests"; ok=1
    fi
  else
    printf '%-11s %-12s %s\n' kafka stopped "broker $LOCAL_KAFKA_BROKERS, controller $HOST:$KAFKA_CONTROLLER_PORT"; ok=1
  fi
  if clickhouse_external; then
    if clickhouse_ready "$(clickhouse_url)"; then
      printf '%-11s %-12s %s\n' clickhouse "external-up" "$(clickhouse_url)"
    else
      printf '%-11s %-12s %s\n' clickhouse "external-DOWN" "$(clickhouse_url)"; ok=1
    fi
  elif pid=$(clickhouse_pid); then
    if clickhouse_ready; then
      printf '%-11s %-12s %s\n' clickhouse running "pid $pid, http $LOCAL_CLICKHOUSE_URL, tcp $HOST:$CLICKHOUSE_TCP_PORT"
    else
      printf '%-11s %-12s %s\n' clickhouse not-ready "pid $pid, $LOCAL_CLICKHOUSE_URL/ping does not answer"; ok=1
    fi
  else
    printf '%-11s %-12s %s\n' clickhouse stopped "http $LOCAL_CLICKHOUSE_URL, tcp $HOST:$CLICKHOUSE_TCP_PORT"; ok=1
  fi
  printf '%-11s %s\n' data "$DATA_DIR"
  return $ok
}

cmd_logs() {
  local comp=all follow=0 n=100
  while (($#)); do
    case "$1" in
      -f | --follow) follow=1 ;;
      -n) shift; n=${1:?-n needs a number} ;;
      *) comp=$1 ;;
    esac
    shift
  done
  local files=() c
  components "$comp" >/dev/null
  for c in $(components "$comp"); do
    case $c in
      kafka) files+=("$KAFKA_LOGS/server.log" "$KAFKA_LOGS/kafka.out") ;;
      clickhouse) files+=("$CH_LOGS/clickhouse-server.log" "$CH_LOGS/clickhouse-server.err.log" "$CH_LOGS/clickhouse.out") ;;
    esac
  done
  local existing=() f
  for f in "${files[@]}"; do [[ -f "$f" ]] && existing+=("$f"); done
  ((${#existing[@]})) || { log "no log files yet under $DATA_DIR"; return 0; }
  if ((follow)); then exec tail -n "$n" -F "${existing[@]}"; fi
  tail -n "$n" "${existing[@]}"
}

cmd_env() {
  echo "export KAFKA_BROKERS=$(kafka_brokers)"
  echo "export CLICKHOUSE_URL=$(clickhouse_url)"
  echo "export CLICKHOUSE_TCP_PORT=$CLICKHOUSE_TCP_PORT"
  echo "export CLICKHOUSE_READER_USER=select_reader"
  echo "export CLICKHOUSE_READER_PASSWORD=$CLICKHOUSE_READER_PASSWORD"
}

cmd_reset() {
  take_lock
  kafka_stop
  clickhouse_stop
  log "deleting data, logs and generated config under $DATA_DIR (kafka/libs is kept as a jar cache)"
  rm -rf "$KAFKA_DATA" "$KAFKA_LOGS" "$KAFKA_PROPS" "$KAFKA_LOG4J" "$KAFKA_PID" "$KAFKA_HOME/libs.tmp" "$KAFKA_HOME/mvn.log" "$CH_HOME"
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

main() {
  local cmd=${1:-help}
  shift || true
  case "$cmd" in
    up) cmd_start all ;;
    down) cmd_stop all ;;
    start) cmd_start "${1:-all}" ;;
    stop) cmd_stop "${1:-all}" ;;
    restart) cmd_stop "${1:-all}"; cmd_start "${1:-all}" ;;
    status) cmd_status ;;
    logs) cmd_logs "$@" ;;
    env) cmd_env ;;
    reset) cmd_reset ;;
    help | -h | --help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

# sourced (by a test, for its functions), it defines them and runs nothing
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
