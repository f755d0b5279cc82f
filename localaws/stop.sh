#!/usr/bin/env bash
# Stops what localaws/start.sh started in STATE_DIR (default <repo>/.localaws) and removes it.
# Kills exactly the process groups recorded in moto.pid and emulator.pid (after checking that they
# still run our programs), waits until they are gone. Idempotent; prints one line.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
state="${1:-$root/.localaws}"

if [[ ! -d "$state" ]]; then
    echo "localaws: not running ($state does not exist)"
    exit 0
fi
state="$(cd "$state" && pwd)"
# start.sh calls this with the lock already held (_LOCALAWS_LOCKED=1) and keeps the directory.
if [[ -z "${_LOCALAWS_LOCKED:-}" ]]; then
    exec 8>"$state/.lock"
    flock 8
fi

# running PID: the process exists and is not a zombie (an orphan is reaped by init, sometimes late).
running() {
    local st
    st="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
    [[ -n "$st" && "$st" != Z && "$st" != X ]]
}

# stop_group PIDFILE PATTERN
stop_group() {
    local pidfile="$1" pattern="$2" pid pgid i
    [[ -s "$pidfile" ]] || { rm -f "$pidfile"; return 0; }
    pid="$(cat "$pidfile")"
    if [[ "$pid" =~ ^[0-9]+$ && -r "/proc/$pid/cmdline" ]] \
        && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$pattern"; then
        # setsid made it a group leader: pgid == pid. Check instead of assuming.
        pgid="$(ps -o pgid= -p "$pid" | tr -d ' ')"
        if [[ "$pgid" == "$pid" ]]; then
            kill -TERM -- "-$pgid" 2>/dev/null || true
        else
            kill -TERM "$pid" 2>/dev/null || true
        fi
        for ((i = 0; i < 100; i++)); do
            running "$pid" || break
            sleep 0.1
        done
        if running "$pid"; then
            if [[ "$pgid" == "$pid" ]]; then
                kill -KILL -- "-$pgid" 2>/dev/null || true
            else
                kill -KILL "$pid" 2>/dev/null || true
            fi
            for ((i = 0; i < 50; i++)); do
                running "$pid" || break
                sleep 0.1
            done
        fi
        # Whatever else was in the group (nothing, normally).
        if [[ "$pgid" == "$pid" ]]; then
            kill -KILL -- "-$pgid" 2>/dev/null || true
        fi
    fi
    rm -f "$pidfile"
}

stop_group "$state/emulator.pid" emulator.py
stop_group "$state/moto.pid" run_moto.py

rm -f "$state/env" "$state/env.tmp" "$state/moto.out" "$state/moto.log" \
    "$state/emulator.out" "$state/emulator.log"
if [[ -z "${_LOCALAWS_LOCKED:-}" ]]; then
    rm -f "$state/.lock"
    rmdir "$state" 2>/dev/null || echo "localaws: left $state (it holds files not ours)" >&2
fi
echo "localaws: stopped ($state)"
