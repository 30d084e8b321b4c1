#!/usr/bin/env bash
# Installs everything the tests need, then runs lint, types and the whole test suite.
# Works on a fresh Debian machine (as root, or with sudo) and on this project's CI.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
apt_updated=""
apt_install() {
    [ -n "$apt_updated" ] || { $SUDO apt-get update -qq; apt_updated=1; }
    # Keep package scripts from starting system daemons: the tests start their own instances.
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    $SUDO rm -f /usr/sbin/policy-rc.d
}

# --- mail servers for the integration tests (started by the tests themselves) ---
if ! command -v dovecot >/dev/null || ! [ -x /usr/sbin/postfix ] || ! [ -x /usr/lib/dovecot/lmtp ]; then
    echo "postfix postfix/main_mailer_type select Local only" | $SUDO debconf-set-selections
    echo "postfix postfix/mailname string localhost" | $SUDO debconf-set-selections
    apt_install dovecot-imapd dovecot-lmtpd postfix openssl
fi

# --- PostgreSQL: a running cluster and a login for this user ---
if ! command -v pg_ctlcluster >/dev/null; then
    apt_install postgresql
fi
pg_version=$(ls /etc/postgresql | sort -V | tail -n 1)
if ! pg_isready -q -h /var/run/postgresql; then
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start
    for _ in $(seq 30); do pg_isready -q -h /var/run/postgresql && break; sleep 1; done
fi
if psql "host=127.0.0.1 port=5432 user=postgres dbname=postgres" -Atqc 'select 1' >/dev/null 2>&1; then
    export BOUNCER_TEST_PG_ADMIN="postgresql://postgres@127.0.0.1:5432/postgres"
else
    me=$(id -un)
    $SUDO su postgres -c "psql -Atqc \"select 1 from pg_roles where rolname='$me'\" | grep -q 1 || createuser --superuser '$me'"
    export BOUNCER_TEST_PG_ADMIN="postgresql://$me@/postgres?host=/var/run/postgresql"
fi

# --- Python environment, pinned ---
if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    apt_install python3-venv
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test,bench]'

# --- lint, types, tests ---
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/pytest "$@"

# --- the compiled analysis engine (what a regular install runs) answers as the plain one ---
if [ "$#" -eq 0 ]; then
    command -v cc >/dev/null || apt_install gcc libc6-dev
    python_include=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
    [ -f "$python_include/Python.h" ] || apt_install python3-dev
    .venv/bin/python scripts/check_compiled.py
fi
