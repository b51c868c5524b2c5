#!/usr/bin/env bash
# The test suite: everything but the end-to-end tests on SQLite, then every database test again on
# PostgreSQL (GRIDTALK_TEST_DATABASE_URL) with the end-to-end tests, which drive whole processes and run
# once, there. Under CI=true a missing PostgreSQL, a skipped test or no test at all fails.
set -uo pipefail
cd "$(dirname "$0")/.."
pytest=.venv/bin/pytest
ci=${CI:-false}

run_pytest() {  # label, then pytest arguments
  local label=$1; shift
  echo "[gridtalk] tests on $label"
  "$pytest" "$@"
  local rc=$?
  if [ $rc -eq 5 ]; then echo "[gridtalk] no test ran on $label: that is a failure"; return 1; fi
  return $rc
}

GRIDTALK_TEST_DB=sqlite run_pytest SQLite -m "not e2e" "$@" || exit 1

if [ -n "${GRIDTALK_TEST_DATABASE_URL:-}" ]; then
  GRIDTALK_TEST_DB=postgresql run_pytest "PostgreSQL ($GRIDTALK_TEST_DATABASE_URL)" -m "db or e2e" "$@" || exit 1
elif [ "$ci" = "true" ]; then
  echo "[gridtalk] CI=true but GRIDTALK_TEST_DATABASE_URL is not set: the PostgreSQL run is required"; exit 1
else
  echo "[gridtalk] PostgreSQL run skipped: set GRIDTALK_TEST_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test"
fi
