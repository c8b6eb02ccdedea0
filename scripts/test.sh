#!/usr/bin/env bash
# The whole test suite: type-check, import-cycle check, then every unit and integration test (jest).
# Integration tests start their own redis-server processes on free ports; nothing else needs to run.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh || exit 1
bash scripts/ensure-chromium.sh || exit 1  # the dashboard's browser test (Debian's chromium)
bash scripts/ensure-mariadb.sh || exit 1   # the idempotency component's MariaDB store tests
mkdir -p .propel

echo "==> type-check (tsc --noEmit)"
npx --no-install tsc -p tsconfig.json --noEmit || exit 1

echo "==> import cycles (madge --circular)"
npx --no-install madge --circular --extensions ts --ts-config tsconfig.json common actors apps >/dev/null 2>.propel/madge.err || {
  npx --no-install madge --circular --extensions ts --ts-config tsconfig.json common actors apps
  exit 1
}

echo "==> jest"
npx --no-install jest --forceExit --json --outputFile=.propel/jest-results.json "$@"
