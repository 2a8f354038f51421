#!/bin/sh
# Installs the Debian packages the module's build, tests and benchmarks use.
# Idempotent: packages already present are left alone.

set -e

# prometheus: its promtool checks the admin endpoint's metrics format
# gdb: its gcore dumps a worker for the secret hygiene suite (t/150)
PKGS="nginx nginx-dev libsqlite3-dev libjansson-dev libcurl4-openssl-dev
      libssl-dev sqlite3 openssl curl ca-certificates make gcc perl
      libtest-base-perl libtext-diff-perl libipc-run-perl
      liblist-moreutils-perl libtest-longstring-perl libwww-perl
      liburi-perl prometheus gdb"

missing=
for p in $PKGS $EXTRA_PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" \
        || missing="$missing $p"
done

if [ -n "$missing" ]; then
    echo "installing:$missing"
    SUDO=
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
        --no-install-recommends $missing
fi

