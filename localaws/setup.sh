#!/usr/bin/env bash
# Creates (or refreshes) the Python venv that runs moto and the stagecraft emulator.
#
#   localaws/setup.sh            # venv at $STAGECRAFT_VENV, default <repo>/target/localaws-venv
#
# Idempotent and safe to run from several processes at once (flock). Requirements are
# (re)installed only when localaws/requirements.txt changed (its sha256 is stamped into the
# venv). Prints exactly one line on success; on failure prints pip's log to stderr.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
venv="${STAGECRAFT_VENV:-$root/target/localaws-venv}"
[[ "$venv" == /* ]] || venv="$root/$venv"  # relative to the repo root, wherever we run
req="$here/requirements.txt"
python="${STAGECRAFT_PYTHON:-python3}"

mkdir -p "$(dirname "$venv")"
venv="$(cd "$(dirname "$venv")" && pwd)/$(basename "$venv")"

# One setup at a time per venv; the lock file sits beside the venv so it exists before it.
exec 9>"$venv.lock"
flock 9

want="$(cat "$req" <("$python" -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1)"
stamp="$venv/.stagecraft-requirements.sha256"

if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c '' 2>/dev/null \
   && [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "localaws: venv up to date at $venv"
    exit 0
fi

log="$(mktemp "${TMPDIR:-/tmp}/localaws-setup.XXXXXX")"
trap 'rm -f "$log"' EXIT

fail() {
    echo "localaws: setup failed: $1" >&2
    cat "$log" >&2
    exit 1
}

if ! { [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c '' 2>/dev/null; }; then
    rm -rf "$venv"
    "$python" -m venv "$venv" >"$log" 2>&1 || fail "could not create venv with $python"
fi
rm -f "$stamp"
"$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$req" >>"$log" 2>&1 \
    || fail "pip install -r $req"
"$venv/bin/python" -c 'import moto.server, boto3' >>"$log" 2>&1 || fail "moto does not import"
echo "$want" >"$stamp"
echo "localaws: venv installed at $venv"
