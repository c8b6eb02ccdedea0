#!/usr/bin/env bash
# Installs what a fresh machine lacks: npm packages (from the lockfile) and redis-server/redis-cli (apt).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "==> installing npm packages"
  # `npm install` rather than `npm ci`: the registry here lacks other platforms' optional builds.
  npm install --no-audit --no-fund --loglevel=error
fi

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "redis-server is missing and this is not root: install it (apt-get install -y redis-server) and run again" >&2
    exit 1
  fi
  echo "==> installing redis-server"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq redis-server >/dev/null
fi
