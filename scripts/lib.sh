# Shared helpers for scripts/*.sh (sourced, not run).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# hermetic_cli_config FILE PROVIDER_DIR: a CLI config that installs stagecraft/staging from
# PROVIDER_DIR and nothing else from anywhere.
hermetic_cli_config() {
    cat >"$1" <<HCL
provider_installation {
  dev_overrides {
    "stagecraft/staging" = "$2"
  }
}
disable_checkpoint = true
HCL
}
