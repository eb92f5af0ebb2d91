#!/usr/bin/env bash
# Start (installing from Debian's packages when missing) the services the tests use:
# PostgreSQL on 127.0.0.1:5432 with trust auth and a database `test`, Redis on 6379.
set -uo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
apt_install() {
  command -v apt-get >/dev/null || { echo "services: apt-get not available to install $*" >&2; return 1; }
  as_root apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

wait_port() { for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 0.5; done; return 1; }

ensure_redis() {
  port_open 6379 && return 0
  command -v redis-server >/dev/null || apt_install redis-server || return 1
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_port 6379
}

ensure_postgres() {
  if ! port_open 5432; then
    ls /etc/postgresql/*/main >/dev/null 2>&1 || apt_install postgresql || return 1
    local ver; ver=$(ls /etc/postgresql | sort -V | tail -1)
    local hba="/etc/postgresql/$ver/main/pg_hba.conf"
    if ! grep -q "^host all all 127.0.0.1/32 trust" "$hba" 2>/dev/null; then
      as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    fi
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start || as_root pg_ctlcluster "$ver" main start
    wait_port 5432 || return 1
  fi
  if command -v psql >/dev/null; then
    psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" 2>/dev/null | grep -q 1 \
      || psql -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE test" >/dev/null 2>&1 || true
  fi
}

# The dashboard's browser tests drive Debian's chromium through Playwright (never
# `playwright install`: no browser download; tests/browser.py finds /usr/bin/chromium).
ensure_chromium() {
  command -v chromium >/dev/null && return 0
  apt_install chromium chromium-driver fonts-dejavu-core
}

ensure_redis || echo "services: Redis could not be started" >&2
ensure_postgres || echo "services: PostgreSQL could not be started" >&2
ensure_chromium || echo "services: chromium could not be installed" >&2
exit 0
