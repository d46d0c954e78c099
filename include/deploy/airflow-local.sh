#!/usr/bin/env bash
# Airflow for DataPipe on one machine: scheduler, dag-processor, triggerer and api-server as
# separate processes with pid files (`make up` / `make down`).
#
#   include/deploy/airflow-local.sh up       migrate the metadata DB, import the pools, start the four
#                                    components, wait for the UI, print its address and login;
#                                    with some components up, starts only the missing ones (after
#                                    a crash: see docs/operations.md)
#   include/deploy/airflow-local.sh down     stop them (scheduler first, api-server last), remove pid files
#   include/deploy/airflow-local.sh status   which components run
#   include/deploy/airflow-local.sh env      print the environment (source it to use the `airflow` CLI)
#
# Settings (environment):
#   DATAPIPE_AIRFLOW_HOME   AIRFLOW_HOME (default var/airflow)
#   DATAPIPE_AIRFLOW_PORT   api-server / UI port (default 8080; the log servers and the scheduler
#                           health check use the next three ports)
#   DATAPIPE_AIRFLOW_DB     metadata DB URL (default SQLite in AIRFLOW_HOME; e.g.
#                           postgresql+psycopg2://postgres@127.0.0.1:5432/airflow)
#   DATAPIPE_DATA_ROOT, DATAPIPE_CATALOG_URL, DATAPIPE_EXECUTION_BACKEND  passed to the tasks
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENV_BIN="${DATAPIPE_VENV_BIN:-$ROOT/.venv/bin}"
HOME_DIR="${DATAPIPE_AIRFLOW_HOME:-$ROOT/var/airflow}"
mkdir -p "$HOME_DIR"
HOME_DIR="$(cd "$HOME_DIR" && pwd)"
PORT="${DATAPIPE_AIRFLOW_PORT:-8080}"
RUN_DIR="$HOME_DIR/run"
LOG_DIR="$HOME_DIR/logs"
COMPONENTS=(scheduler dag-processor triggerer api-server)

export AIRFLOW_HOME="$HOME_DIR"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
# 2 cores: at most 4 task processes (the default would start 32 workers).
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
export AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG="${AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG:-4}"
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=True
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$PORT/execution/"
export AIRFLOW__CORE__AUTH_MANAGER=airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$HOME_DIR/passwords.json"
export AIRFLOW__API__PORT="$PORT"
export AIRFLOW__API__HOST="${AIRFLOW__API__HOST:-127.0.0.1}"
# The side servers get ports next to the UI's, so that two instances (e.g. a test's) can coexist.
export AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT="$((PORT + 1))"
export AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT="$((PORT + 2))"
export AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT="$((PORT + 3))"
export AIRFLOW__API__BASE_URL="http://127.0.0.1:$PORT"
export AIRFLOW__API__WORKERS=1
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="${AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL:-30}"
export AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK=True
export AIRFLOW__LOGGING__BASE_LOG_FOLDER="$LOG_DIR"
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${DATAPIPE_AIRFLOW_DB:-sqlite:///$HOME_DIR/airflow.db}"
export DATAPIPE_DATA_ROOT="${DATAPIPE_DATA_ROOT:-$ROOT/var}"
export MPLBACKEND=Agg
export PATH="$VENV_BIN:$PATH"

die() { echo "error: $*" >&2; exit 1; }
pid_of() { local f="$RUN_DIR/$1.pid"; [ -f "$f" ] && cat "$f"; }
# a killed component whose parent has not reaped it yet (a zombie) does not run
alive() { kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != Z ]; }
running() { local pid; pid="$(pid_of "$1")" && [ -n "$pid" ] && alive "$pid"; }
all_running() { local c; for c in "${COMPONENTS[@]}"; do running "$c" || return 1; done; }
any_running() { local c; for c in "${COMPONENTS[@]}"; do running "$c" && return 0; done; return 1; }
healthy() { curl -fsS --max-time 5 "http://127.0.0.1:$PORT/api/v2/monitor/health" >/dev/null 2>&1; }

password() {
  local file="$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
  if [ ! -s "$file" ]; then
    (umask 077; python3 -c 'import json, secrets; print(json.dumps({"admin": secrets.token_urlsafe(12)}))' > "$file")
  fi
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["admin"])' "$file"
}

up() {
  [ -x "$VENV_BIN/airflow" ] || die "no airflow in $VENV_BIN: run 'make env' first"
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  if healthy && all_running; then echo "Airflow is already up"; banner; return; fi
  if ! running api-server && curl -s --max-time 2 "http://127.0.0.1:$PORT/" >/dev/null 2>&1; then
    die "port $PORT is in use by another program (set DATAPIPE_AIRFLOW_PORT)"
  fi
  password >/dev/null
  echo "metadata DB: $(echo "$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" | sed 's#://[^@/]*@#://***@#')"
  if any_running; then
    # some components still run (one crashed): the database is migrated, start the others now
    echo "starting the missing components"
  else
    airflow db migrate >"$LOG_DIR/db-migrate.log" 2>&1 || die "airflow db migrate failed (see $LOG_DIR/db-migrate.log)"
    airflow pools import "$ROOT/include/airflow/pools.json" >"$LOG_DIR/pools.log" 2>&1 \
      || die "importing the pools failed (see $LOG_DIR/pools.log)"
  fi
  for component in "${COMPONENTS[@]}"; do
    if running "$component"; then continue; fi
    # setsid: each component leads its own process group, so `down` stops its children too.
    setsid "$VENV_BIN/airflow" "$component" >>"$LOG_DIR/$component.log" 2>&1 < /dev/null &
    echo $! > "$RUN_DIR/$component.pid"
    echo "started $component (pid $!)"
  done
  for _ in $(seq 1 180); do
    healthy && break
    for component in "${COMPONENTS[@]}"; do
      running "$component" || die "$component exited (see $LOG_DIR/$component.log)"
    done
    sleep 1
  done
  healthy || die "the api-server did not answer on port $PORT within 180 s (see $LOG_DIR/api-server.log)"
  banner
}

banner() {
  echo
  echo "Airflow UI:  http://127.0.0.1:$PORT"
  echo "login:       admin / $(password)"
  echo "DAGs:        $ROOT/dags (paused at creation: unpause them in the UI)"
  echo "logs:        $LOG_DIR"
  echo "stop with:   make down"
}

group_alive() { ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ {found = 1} END {exit !found}'; }

wait_gone() {  # wait_gone <pid> <seconds>: 0 once the process is gone
  local i
  for i in $(seq 1 $(($2 * 2))); do alive "$1" || return 0; sleep 0.5; done
  ! alive "$1"
}

stop_component() {
  # The component's own shutdown first (the scheduler lets its LocalExecutor workers finish),
  # a second signal if it waits too long ("signal again if you don't want to wait"), then
  # whatever is left of its process group (serve-logs, workers).
  local component="$1" pid
  pid="$(pid_of "$component")" || return 0
  if [ -n "$pid" ] && alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" 30; then
      kill -TERM "$pid" 2>/dev/null || true
      if ! wait_gone "$pid" 10; then
        echo "$component (pid $pid) did not stop: killing its process group"
        kill -KILL -- "-$pid" 2>/dev/null || true
      fi
    fi
    echo "stopped $component (pid $pid)"
  fi
  if [ -n "$pid" ] && group_alive "$pid"; then
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do group_alive "$pid" || break; sleep 0.5; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$RUN_DIR/$component.pid"
}

down() {
  # Scheduler first (no new task processes), the api-server (execution API) last.
  for component in scheduler triggerer dag-processor api-server; do stop_component "$component"; done
}

status() {
  local rc=0
  for component in "${COMPONENTS[@]}"; do
    if running "$component"; then echo "$component: running (pid $(pid_of "$component"))"
    else echo "$component: stopped"; rc=1; fi
  done
  healthy && echo "UI: http://127.0.0.1:$PORT" || echo "UI: not answering"
  return $rc
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  env) env | grep -E '^(AIRFLOW_HOME|AIRFLOW__|DATAPIPE_)=' | while IFS='=' read -r k v; do printf 'export %s=%q\n' "$k" "$v"; done ;;
  *) die "usage: $0 up|down|status|env" ;;
esac
