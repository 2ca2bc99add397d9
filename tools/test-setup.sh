#!/usr/bin/env bash
# What the test suite needs from the machine, installed and started when it is missing, so that `npm ci` then
# `npm test` passes on a fresh machine. `npm test` runs this first (the `pretest` script), and CI runs `npm test`
# (.ci/run); `npm run test:setup` runs it alone, e.g. before `npx jest <file>`. Idempotent: when everything is
# there it only checks, in about a second.
#
#   - Debian's Chromium (/usr/bin/chromium) for the storefront end-to-end test (app/test/e2e), which drives it
#     with playwright-core; skipped when CHROMIUM_PATH names a browser you already have.
#   - PostgreSQL (server binaries: tests initdb/pg_basebackup servers of their own) listening on
#     127.0.0.1:5432 with trust auth for 127.0.0.1; skipped when TEST_PG_URL points the tests elsewhere.
#   - Redis on 127.0.0.1:6379; skipped when TEST_REDIS_URL points the tests elsewhere.
#
# Packages come from Debian's archive with apt-get (as root, or through passwordless sudo). A service that is
# installed but stopped is started. Whatever cannot be provided stops the run here with what is missing and
# how to provide it, rather than as failures deep inside the tests.
set -euo pipefail

say() { printf 'test-setup: %s\n' "$*" >&2; }
fail() {
  say "$*"
  exit 1
}

# Root runs apt-get and the service commands directly; anyone else needs passwordless sudo for them.
can_be_root() { [ "$(id -u)" -eq 0 ] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }

pg_bin_dir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

# --- Debian packages -----------------------------------------------------------------------------------------
need=()
if [ -n "${CHROMIUM_PATH:-}" ]; then
  [ -x "$CHROMIUM_PATH" ] || fail "CHROMIUM_PATH=$CHROMIUM_PATH is not an executable file. Unset it to use Debian's chromium."
elif [ ! -x /usr/bin/chromium ]; then
  need+=(chromium)
fi
if [ -z "${TEST_PG_URL:-}" ]; then
  # server binaries, not only the client: tests initdb and pg_basebackup servers of their own
  [ -x "$(pg_bin_dir)/initdb" ] || command -v initdb >/dev/null 2>&1 || need+=(postgresql)
fi
if [ -z "${TEST_REDIS_URL:-}" ]; then
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
fi

if [ ${#need[@]} -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 ||
    fail "missing: ${need[*]}. This is not a Debian machine (no apt-get): install them yourself" \
      "(for a browser you have, set CHROMIUM_PATH to it)."
  can_be_root || fail "missing: ${need[*]}, and installing needs root (or passwordless sudo)." \
    "Install them: sudo apt-get install -y ${need[*]}"
  say "installing ${need[*]} from Debian's packages (apt-get)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq || fail "apt-get update failed (see above)."
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
    fail "apt-get install ${need[*]} failed (see above)."
fi

# --- PostgreSQL on 127.0.0.1:5432 ----------------------------------------------------------------------------
wait_for() {
  for _ in $(seq 1 30); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 1
  done
  return 1
}

if [ -z "${TEST_PG_URL:-}" ]; then
  pg_ready() { pg_isready -h 127.0.0.1 -p 5432 -q; }
  if ! pg_ready; then
    command -v pg_ctlcluster >/dev/null 2>&1 ||
      fail "PostgreSQL is not answering on 127.0.0.1:5432. Start it (or set TEST_PG_URL to a server that runs)."
    cluster="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)"
    [ -n "$cluster" ] || fail "PostgreSQL is installed but has no cluster in /etc/postgresql: create one (pg_createcluster)."
    can_be_root || fail "PostgreSQL $cluster is stopped; start it as root: pg_ctlcluster $cluster main start"
    say "starting PostgreSQL $cluster (main)"
    as_root pg_ctlcluster --skip-systemctl-redirect "$cluster" main start ||
      fail "could not start PostgreSQL $cluster: run as root: pg_ctlcluster $cluster main start"
    wait_for pg_ready || fail "PostgreSQL $cluster started but does not answer on 127.0.0.1:5432 after 30 s."
  fi
  # The tests connect as postgres without a password (TEST_PG_URL's default).
  psql -w -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1 ||
    fail "PostgreSQL on 127.0.0.1:5432 refuses user postgres without a password. The tests need trust auth for" \
      "127.0.0.1 (pg_hba.conf: host all all 127.0.0.1/32 trust), or set TEST_PG_URL to a URL that logs in."
fi

# --- Redis on 127.0.0.1:6379 ---------------------------------------------------------------------------------
if [ -z "${TEST_REDIS_URL:-}" ]; then
  redis_ready() { redis-cli -h 127.0.0.1 -p 6379 ping; }
  if ! redis_ready >/dev/null 2>&1; then
    can_be_root || fail "Redis is not answering on 127.0.0.1:6379: start it (or set TEST_REDIS_URL)."
    say "starting Redis on 127.0.0.1:6379 (no persistence)"
    as_root mkdir -p /var/lib/redis /var/log/redis
    as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || fail "could not start redis-server."
    wait_for redis_ready || fail "Redis started but does not answer on 127.0.0.1:6379 after 30 s."
  fi
fi

say "ok: ${CHROMIUM_PATH:-/usr/bin/chromium}; PostgreSQL ${TEST_PG_URL:-127.0.0.1:5432}; Redis ${TEST_REDIS_URL:-127.0.0.1:6379}"
