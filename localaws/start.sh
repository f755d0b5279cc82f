#!/usr/bin/env bash
# Starts local AWS: moto plus the stagecraft emulator in front of it, on free loopback ports.
#
#   localaws/start.sh [STATE_DIR]      # default <repo>/.localaws
#   set -a; . .localaws/env; set +a    # AWS_ENDPOINT_URL, credentials, region for SDKs and terraform
#   localaws/stop.sh [STATE_DIR]
#
# STATE_DIR gets: env, moto.pid, emulator.pid (each a process-group leader), moto.log,
# emulator.log. Idempotent: if both processes recorded there are alive, it only prints the line.
# Prints one line on success (plus setup.sh's one line).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
state="${1:-$root/.localaws}"
venv="${STAGECRAFT_VENV:-$root/target/localaws-venv}"
[[ "$venv" == /* ]] || venv="$root/$venv"  # relative to the repo root, wherever we run
timeout_s="${STAGECRAFT_LOCALAWS_TIMEOUT:-60}"

"$here/setup.sh" >/dev/null

mkdir -p "$state"
state="$(cd "$state" && pwd)"
exec 8>"$state/.lock"
flock 8

# alive PIDFILE PATTERN: the recorded process exists and still runs our program.
alive() {
    local pid
    [[ -s "$1" ]] || return 1
    pid="$(cat "$1")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2"
}

if alive "$state/moto.pid" run_moto.py && alive "$state/emulator.pid" emulator.py && [[ -s "$state/env" ]]; then
    echo "localaws: already running: $(grep '^AWS_ENDPOINT_URL=' "$state/env" | cut -d= -f2-) (env in $state/env)"
    exit 0
fi

# Anything half-started before: stop it, keep the directory and our lock.
_LOCALAWS_LOCKED=1 "$here/stop.sh" "$state" >/dev/null

cleanup_on_error() {
    _LOCALAWS_LOCKED=1 "$here/stop.sh" "$state" >/dev/null 2>&1 || true
}
trap 'rc=$?; if [[ $rc -ne 0 ]]; then cleanup_on_error; fi' EXIT

# wait_ready OUTFILE PID NAME: until OUTFILE has "READY <port>"; prints the port.
wait_ready() {
    local deadline=$((SECONDS + timeout_s))
    while ((SECONDS < deadline)); do
        if grep -q '^READY [0-9]' "$1" 2>/dev/null; then
            awk '/^READY [0-9]/ { print $2; exit }' "$1"
            return 0
        fi
        if ! kill -0 "$2" 2>/dev/null; then
            echo "localaws: $3 exited during startup; its log:" >&2
            cat "$state/$3.log" >&2 || true
            return 1
        fi
        sleep 0.1
    done
    echo "localaws: $3 not ready after ${timeout_s}s; its log:" >&2
    cat "$state/$3.log" >&2 || true
    return 1
}

# setsid: each server leads its own session and process group (pid == pgid), detached from the
# caller's terminal and job control; stdout/stderr go to files so $(start.sh) does not hang.
# 8>&- : the servers must not inherit the state lock (stop.sh takes it).
# `moto_server -p PORT` would need a port picked in advance (racy); run_moto.py runs the same
# moto app on a port it binds itself.
setsid "$venv/bin/python" "$here/run_moto.py" --host 127.0.0.1 --port 0 \
    </dev/null >"$state/moto.out" 2>"$state/moto.log" 8>&- &
echo $! >"$state/moto.pid"
moto_port="$(wait_ready "$state/moto.out" "$(cat "$state/moto.pid")" moto)"
moto_url="http://127.0.0.1:$moto_port"

setsid "$venv/bin/python" "$here/emulator.py" --host 127.0.0.1 --port 0 --moto-url "$moto_url" \
    </dev/null >"$state/emulator.out" 2>"$state/emulator.log" 8>&- &
echo $! >"$state/emulator.pid"
emulator_port="$(wait_ready "$state/emulator.out" "$(cat "$state/emulator.pid")" emulator)"
endpoint="http://127.0.0.1:$emulator_port"

# Both answer: the emulator's health endpoint says so, and checks that moto accepts connections.
deadline=$((SECONDS + timeout_s))
until curl -fsS --max-time 2 "$endpoint/_emulator/health" 2>/dev/null | grep -q '"moto": "up"'; do
    if ((SECONDS >= deadline)); then
        echo "localaws: emulator health check failed at $endpoint" >&2
        exit 1
    fi
    sleep 0.1
done
curl -fsS --max-time 5 -o /dev/null "$moto_url/moto-api/" || {
    echo "localaws: moto does not answer at $moto_url" >&2
    exit 1
}

cat >"$state/env.tmp" <<ENV
AWS_ENDPOINT_URL=$endpoint
AWS_ACCESS_KEY_ID=testing
AWS_SECRET_ACCESS_KEY=testing
AWS_REGION=us-east-1
AWS_DEFAULT_REGION=us-east-1
STAGECRAFT_MOTO_URL=$moto_url
ENV
mv "$state/env.tmp" "$state/env"
echo "localaws: started $endpoint (moto $moto_url); env in $state/env"
