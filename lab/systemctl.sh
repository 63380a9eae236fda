#!/bin/sh
# The lab's stand-in for systemctl, installed in every lab host as /usr/local/sbin/systemctl
# (first in sudo's secure_path). Lab hosts have no systemd; this runs the units the converge
# scripts enable, start, reload and restart, so the scripts run on a lab host exactly as on
# a VM. A unit is a file /etc/nextcloud-ha/lab-units/UNIT (shell variables: NAME, RUN_AS,
# ENV_FILES, COMMAND, RELOAD_SIGNAL, ONESHOT), written from the renderers' ServiceSpec, which
# is what the VM's unit runs. Main pids live in /run/lab-units/UNIT.pid (the lab reads them
# there), logs in /var/log/lab/NAME.log, the enabled set in /var/lib/nextcloud-ha/lab-enabled.
# Verbs: start stop restart try-restart reload try-reload-or-restart is-active is-enabled
# enable disable daemon-reload; and `lab-boot UNIT...` (the lab only): start what is enabled,
# as systemd does at boot.
set -u
cd /   # systemd starts a unit in /, not in the caller's directory
UNITS=/etc/nextcloud-ha/lab-units
RUN=/run/lab-units
ENABLED=/var/lib/nextcloud-ha/lab-enabled
mkdir -p "$RUN" "$ENABLED" /var/log/lab

quiet=0 noblock=0 now=0 verb="" units=""
for a in "$@"; do
  case "$a" in
    -q|--quiet) quiet=1 ;;
    --no-block) noblock=1 ;;
    --now) now=1 ;;
    -*) ;;
    *) if [ -z "$verb" ]; then verb=$a; else case "$a" in *.*) units="$units $a" ;; *) units="$units $a.service" ;; esac; fi ;;
  esac
done

# True while the process exists and is not a zombie.
alive() { [ -n "$1" ] && [ -r "/proc/$1/stat" ] && ! sed 's/^.*) //' "/proc/$1/stat" | grep -q '^Z'; }
mainpid() { p=$(cat "$RUN/$1.pid" 2>/dev/null) || return 1; alive "$p" && echo "$p"; }
active() { mainpid "$1" >/dev/null || [ -f "$RUN/$1.done" ]; }
load() {
  [ -f "$UNITS/$1" ] || return 1
  NAME="" RUN_AS=root ENV_FILES="" COMMAND="" RELOAD_SIGNAL="" ONESHOT=0
  . "$UNITS/$1"
}

start() {
  active "$1" && return 0
  load "$1" || { echo "Failed to start $1: Unit $1 not found." >&2; return 5; }
  rm -f "$RUN/$1.done"
  inner="exec $COMMAND"
  # Each where it exists, in order (systemd's EnvironmentFile=-).
  envs=""; for f in $ENV_FILES; do envs="$envs [ ! -f $f ] || . $f;"; done
  [ -z "$envs" ] || inner="set -a;$envs set +a; $inner"
  log=/var/log/lab/$NAME.log
  if [ "$ONESHOT" = 1 ]; then
    if setsid setpriv --reuid="$RUN_AS" --regid="$RUN_AS" --init-groups --reset-env -- sh -c "$inner" </dev/null >>"$log" 2>&1; then
      touch "$RUN/$1.done"; return 0
    fi
    echo "Job for $1 failed because the control process exited with error code. See $log." >&2; return 1
  fi
  # Not a process group leader here, so setsid execs in place: $! is the service's own pid.
  setsid setpriv --reuid="$RUN_AS" --regid="$RUN_AS" --init-groups --reset-env -- sh -c "$inner" </dev/null >>"$log" 2>&1 &
  echo $! >"$RUN/$1.pid"
  [ "$noblock" = 1 ] && return 0
  # systemd waits for the start job; a service that dies at once fails it.
  sleep 1
  alive "$!" && return 0
  echo "Job for $1 failed because the control process exited with error code. See $log." >&2; return 1
}

stop() {
  rm -f "$RUN/$1.done"
  p=$(mainpid "$1") || { rm -f "$RUN/$1.pid"; return 0; }
  # KillMode=process, as Patroni's unit: the main process stops its children (PostgreSQL) itself.
  kill -TERM "$p" 2>/dev/null
  i=0
  while alive "$p"; do
    i=$((i + 1))
    # After 90 s, as systemd's final SIGKILL: the whole session the unit started (dash's kill has no --).
    if [ "$i" -eq 900 ]; then pkill -KILL -s "$p"; kill -KILL "$p" 2>/dev/null; fi
    if [ "$i" -ge 950 ]; then echo "$1: process $p survives SIGKILL" >&2; return 1; fi
    sleep 0.1
  done
  rm -f "$RUN/$1.pid"
}

reload() {
  load "$1" || { echo "Failed to reload $1: Unit $1 not found." >&2; return 5; }
  p=$(mainpid "$1") || { echo "$1 is not active, cannot reload." >&2; return 7; }
  kill "-${RELOAD_SIGNAL:-HUP}" "$p"
}

rc=0
for u in $units; do
  case "$verb" in
    start) start "$u" || rc=$? ;;
    stop) stop "$u" || rc=1 ;;
    restart) if stop "$u"; then start "$u" || rc=$?; else rc=1; fi ;;
    try-restart) if active "$u"; then if stop "$u"; then start "$u" || rc=$?; else rc=1; fi; fi ;;
    reload) reload "$u" || rc=$? ;;
    try-reload-or-restart)
      if active "$u"; then
        load "$u" || { rc=5; continue; }
        if [ -n "$RELOAD_SIGNAL" ]; then reload "$u" || rc=$?; elif stop "$u"; then start "$u" || rc=$?; else rc=1; fi
      fi ;;
    is-active)
      if active "$u"; then [ "$quiet" = 1 ] || echo active; else [ "$quiet" = 1 ] || echo inactive; rc=3; fi ;;
    is-enabled)
      if [ -f "$ENABLED/$u" ]; then [ "$quiet" = 1 ] || echo enabled; else [ "$quiet" = 1 ] || echo disabled; rc=1; fi ;;
    enable)
      if load "$u"; then touch "$ENABLED/$u"; else echo "Failed to enable unit: Unit file $u does not exist." >&2; rc=1; fi
      [ "$now" = 0 ] || start "$u" || rc=$? ;;
    disable) rm -f "$ENABLED/$u"; [ "$now" = 0 ] || stop "$u" || rc=1 ;;
    lab-boot) if [ -f "$ENABLED/$u" ]; then start "$u" || rc=$?; fi ;;
    *) echo "systemctl (lab stand-in): unknown verb $verb" >&2; exit 1 ;;
  esac
done
[ "$verb" = daemon-reload ] && exit 0
[ -n "$units" ] || [ -n "$verb" ] || { echo "systemctl (lab stand-in): no verb" >&2; exit 1; }
exit "$rc"
