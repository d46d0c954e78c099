#!/usr/bin/env bash
# The local container engine for the `container` execution backend: Debian's podman serving the
# Docker API on a unix socket under var/podman/.
#
#   include/container/engine.sh install   apt-get install podman, runc, debootstrap (needs root)
#   include/container/engine.sh start     start `podman system service` (pid file), print DOCKER_HOST
#   include/container/engine.sh stop      stop the service started by `start`
#   include/container/engine.sh status    exit 0 if the service answers, print DOCKER_HOST
#   include/container/engine.sh host      print the DOCKER_HOST URL (whether or not it is running)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
RUN_DIR="${DATAPIPE_PODMAN_DIR:-$ROOT/var/podman}"
SOCKET="$RUN_DIR/podman.sock"
PIDFILE="$RUN_DIR/podman.pid"
LOG="$RUN_DIR/podman.log"
# shellcheck source=include/container/containers-conf.sh
. "$ROOT/include/container/containers-conf.sh"

die() { echo "error: $*" >&2; exit 1; }

install() {
  local missing=()
  for cmd in podman runc debootstrap; do command -v "$cmd" >/dev/null || missing+=("$cmd"); done
  [ ${#missing[@]} -eq 0 ] && { echo "podman, runc and debootstrap are installed"; return; }
  [ "$(id -u)" -eq 0 ] || die "installing ${missing[*]} needs root (apt-get install podman runc debootstrap)"
  command -v apt-get >/dev/null || die "no apt-get: install podman, runc and debootstrap by hand"
  echo "installing podman runc debootstrap with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null
}

answers() { curl -fsS --max-time 5 --unix-socket "$SOCKET" http://d/_ping >/dev/null 2>&1; }

start() {
  command -v podman >/dev/null || die "podman is not installed: run 'include/container/engine.sh install'"
  mkdir -p "$RUN_DIR"
  if answers; then echo "unix://$SOCKET"; return; fi
  rm -f "$SOCKET"
  # --time=0: never exit on idle. setsid: the service outlives the shell that started it.
  setsid podman system service --time=0 "unix://$SOCKET" >"$LOG" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
  for _ in $(seq 1 60); do answers && { echo "unix://$SOCKET"; return; }; sleep 0.5; done
  die "podman system service did not answer on $SOCKET (see $LOG)"
}

stop() {
  [ -f "$PIDFILE" ] || return 0
  local pid; pid="$(cat "$PIDFILE")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$PIDFILE" "$SOCKET"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) answers && echo "unix://$SOCKET" ;;
  host) echo "unix://$SOCKET" ;;
  *) die "usage: $0 install|start|stop|status|host" ;;
esac
