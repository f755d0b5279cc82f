#!/usr/bin/env bash
# Every test: formatting and lints, the emulator's own tests, and the Rust unit and
# end-to-end tests (real terraform, local AWS, real databases). What it starts, it stops.
#
#   scripts/test.sh        (or: make test)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"

for v in $(env | grep -o '^TF_[A-Z_]*'); do unset "$v"; done
# One clean build per run: incremental caches would only cost disk (about 1 GB here).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
# An empty CLI configuration for the few terraform calls made here (tests write their own).
export TF_CLI_CONFIG_FILE="$root/target/empty.tfrc"
mkdir -p "$root/target" && : >"$TF_CLI_CONFIG_FILE"

echo "==> formatting"
cargo fmt --all -- --check
terraform fmt -check -recursive examples

echo "==> local AWS venv; MariaDB for the sync tests (Debian package, service left stopped)"
localaws/setup.sh
scripts/install-mariadb.sh

echo "==> build"
cargo build --workspace --all-targets

echo "==> clippy"
cargo clippy --workspace --all-targets -- -D warnings

echo "==> emulator tests (python)"
target/localaws-venv/bin/python -m unittest discover -s localaws -p 'test_*.py'

echo "==> modules (offline: aws stand-in, terraform validate/test, plan snapshots, seed tables, checkov, trivy)"
python3 tests/modules/run.py

echo "==> rust tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
else
    cargo test --workspace --no-fail-fast
fi
