#!/usr/bin/env bash
# Installs MariaDB (Debian's 10.11) for the sync tests when it is missing. The tests start their
# own throwaway server in a temp dir, so the packaged service is stopped and left disabled: a
# system mysqld listening on 3306 would only get in the way.
#
#   scripts/install-mariadb.sh       (idempotent; the test harness runs it when mariadbd is absent)
set -euo pipefail

if command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; then
    exit 0
fi

# Serialise concurrent callers (parallel test binaries) on one lock; apt has its own locks but
# fails instead of waiting.
exec 9>/tmp/stagecraft-install-mariadb.lock
flock 9
if command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; then
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# policy-rc.d 101 keeps the package's postinst from starting the system service.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT

apt-get update -qq
apt-get install -y -qq --no-install-recommends mariadb-server mariadb-client >/dev/null
