#!/usr/bin/env bash
# Makes sure the browser tests have Chromium: Debian's `chromium` package at /usr/bin/chromium (or the binary
# PROPEL_CHROMIUM_PATH names), driven by playwright-core. Never downloads a browser of its own
# (`npx playwright install` cannot work on a machine without Playwright's CDN).
set -euo pipefail

CHROMIUM="${PROPEL_CHROMIUM_PATH:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] && exit 0

if [ -n "${PROPEL_CHROMIUM_PATH:-}" ]; then
  echo "PROPEL_CHROMIUM_PATH=$CHROMIUM is not an executable; point it at a Chromium binary or unset it to use Debian's /usr/bin/chromium" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "Chromium is missing ($CHROMIUM) and cannot be installed here (needs root and apt-get): run 'apt-get install -y chromium' as root, or set PROPEL_CHROMIUM_PATH to a Chromium binary" >&2
  exit 1
fi
echo "==> installing chromium (Debian package, for the dashboard's browser test)"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } || [ ! -x "$CHROMIUM" ]; then
  echo "apt-get could not install chromium; install it by hand (apt-get install -y chromium) or set PROPEL_CHROMIUM_PATH" >&2
  exit 1
fi
