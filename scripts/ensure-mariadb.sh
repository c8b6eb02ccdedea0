#!/usr/bin/env bash
# Makes sure the idempotency tests have MariaDB on 127.0.0.1:3306 (root, empty password, database `test`):
# installs Debian's mariadb-server if missing and starts it if it does not answer. With
# PROPEL_TEST_MARIADB_URL set, that server is the tests' business and nothing is done here.
set -euo pipefail

[ -n "${PROPEL_TEST_MARIADB_URL:-}" ] && exit 0

answers() { mariadb -uroot -h127.0.0.1 -P3306 -e 'SELECT 1' >/dev/null 2>&1; }
command -v mariadb >/dev/null 2>&1 && answers && { mariadb -uroot -h127.0.0.1 -e 'CREATE DATABASE IF NOT EXISTS test'; exit 0; }

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "MariaDB is not answering on 127.0.0.1:3306 and cannot be installed or started here (needs root and apt-get): run 'apt-get install -y mariadb-server' and start it, or set PROPEL_TEST_MARIADB_URL" >&2
  exit 1
fi
if [ ! -x /usr/sbin/mariadbd ]; then
  echo "==> installing mariadb-server (Debian package, for the idempotency store tests)"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq mariadb-server >/dev/null; } || {
    echo "apt-get could not install mariadb-server; install it by hand or set PROPEL_TEST_MARIADB_URL" >&2
    exit 1
  }
fi
echo "==> starting mariadbd"
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
for _ in $(seq 1 60); do
  if answers; then
    mariadb -uroot -h127.0.0.1 -e 'CREATE DATABASE IF NOT EXISTS test'
    exit 0
  fi
  # A fresh Debian install lets root in over the socket only; the tests log in over TCP with no password.
  if mariadb -uroot -e 'SELECT 1' >/dev/null 2>&1; then
    mariadb -uroot -e "ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket; CREATE DATABASE IF NOT EXISTS test"
  fi
  sleep 0.5
done
echo "mariadbd did not answer on 127.0.0.1:3306 within 30 s; see /var/log/mysql/ or run it by hand" >&2
exit 1
