#!/usr/bin/env bash
# Set up a virtual environment and run the whole pycrm test suite.
#
# PostgreSQL tests run against $PYCRM_TEST_POSTGRES_URL when it is set; otherwise, when the
# PostgreSQL server binaries are installed, a throwaway cluster is started on loopback for
# the run and removed afterwards; otherwise those tests are skipped with a message.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# The project with its test tools, plus every example package (they are tested too).
packages=(-e ".[dev]")
for example in examples/*/pyproject.toml; do
  [ -e "$example" ] && packages+=(-e "$(dirname "$example")")
done
.venv/bin/python -m pip install -q --disable-pip-version-check "${packages[@]}" 2>&1 \
  | grep -v "^WARNING: Location" || true

pg_bindir() {
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir; return
  fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

PGROOT=""
stop_pg() {
  if [ -n "$PGROOT" ]; then
    $AS_PG "$PGBIN/pg_ctl" -D "$PGROOT/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$PGROOT"
  fi
}
trap stop_pg EXIT

if [ -z "${PYCRM_TEST_POSTGRES_URL:-}" ]; then
  PGBIN=$(pg_bindir || true)
  if [ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ]; then
    PGROOT=$(mktemp -d -t pycrm-pg.XXXXXX)
    AS_PG=""
    if [ "$(id -u)" = "0" ]; then
      # initdb refuses to run as root: only the server runs as postgres.
      chown postgres:postgres "$PGROOT"
      AS_PG="runuser -u postgres --"
    fi
    # A free loopback port unless one is given (another server may hold the usual ones).
    PORT=${PYCRM_TEST_POSTGRES_PORT:-$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
    $AS_PG "$PGBIN/initdb" -D "$PGROOT/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
      --no-sync >/dev/null
    $AS_PG "$PGBIN/pg_ctl" -D "$PGROOT/data" -l "$PGROOT/server.log" -w -t 30 \
      -o "-c listen_addresses=127.0.0.1 -p $PORT -k $PGROOT -c fsync=off -c synchronous_commit=off" \
      start >/dev/null
    export PYCRM_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
    echo "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') started for the tests on port $PORT"
  else
    echo "PostgreSQL server binaries not found: PostgreSQL tests will be skipped"
  fi
fi

# One worker per core (PYCRM_TEST_WORKERS=0 runs everything in this process).
.venv/bin/python -m pytest -n "${PYCRM_TEST_WORKERS:-auto}" "$@"
