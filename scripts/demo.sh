#!/usr/bin/env bash
# The offline demo: local AWS up, provider built, examples/local applied with the real
# terraform, outputs printed, everything destroyed and stopped again.
#
#   scripts/demo.sh        (or: make demo)
#
# STAGECRAFT_PROVIDER_DIR: use an already built provider in this directory instead of building.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

work="$(mktemp -d "${TMPDIR:-/tmp}/stagecraft-demo.XXXXXX")"
state="$work/localaws"
cleanup() {
    local rc=$?
    if [[ -f "$work/main.tf" && -f "$work/terraform.tfstate" ]]; then
        (cd "$work" && terraform destroy -auto-approve -input=false -no-color >"$work/destroy.log" 2>&1) || true
    fi
    "$root/localaws/stop.sh" "$state" >/dev/null 2>&1 || true
    rm -rf "$work"
    exit $rc
}
trap cleanup EXIT INT TERM

if [[ -z "${STAGECRAFT_PROVIDER_DIR:-}" ]]; then
    echo "==> building the provider"
    (cd "$root" && cargo build -q -p terraform-provider-staging)
    STAGECRAFT_PROVIDER_DIR="$root/target/debug"
fi

echo "==> starting local AWS (moto + emulator)"
"$root/localaws/start.sh" "$state"
echo "localaws pids: moto=$(cat "$state/moto.pid") emulator=$(cat "$state/emulator.pid")"
set -a
# shellcheck disable=SC1091
source "$state/env"
set +a

for v in $(env | grep -o '^TF_[A-Z_]*'); do unset "$v"; done
export TF_CLI_CONFIG_FILE="$work/.terraformrc" TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1
hermetic_cli_config "$TF_CLI_CONFIG_FILE" "$STAGECRAFT_PROVIDER_DIR"
cp "$root"/examples/local/*.tf "$work/"
cd "$work"

echo "==> terraform apply (examples/local)"
# (The dev_overrides warning is expected here: the provider is the local build.)
terraform apply -auto-approve -input=false -no-color 2>&1 | sed '/Warning: Provider development overrides/,/^releases\.$/d' || true
[[ -f terraform.tfstate ]] || { echo "apply failed" >&2; exit 1; }

echo "==> outputs"
terraform output -no-color

echo "==> second plan (must be empty)"
terraform plan -detailed-exitcode -input=false -no-color >"$work/plan.log" 2>&1 || { cat "$work/plan.log"; exit 1; }
echo "no changes"

echo "==> terraform destroy"
terraform destroy -auto-approve -input=false -no-color >"$work/destroy.log" 2>&1 || { cat "$work/destroy.log"; exit 1; }
rm -f terraform.tfstate
echo "demo finished; stopping local AWS"
