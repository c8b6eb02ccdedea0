#!/usr/bin/env bash
# Brings Propel up on this machine: installs what is missing, starts an embedded Redis when none is
# configured (PROPEL_REDIS_URL / REDIS_URL unset), then the workers. Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh

WORKERS="${PROPEL_WORKERS:-2}"
SWEEPERS="${PROPEL_SWEEPERS:-2}"
STATE_DIR="${PROPEL_STATE_DIR:-.propel}"
mkdir -p "$STATE_DIR/redis" "$STATE_DIR/logs"
STATE_DIR="$(cd "$STATE_DIR" && pwd)"   # absolute: PROPEL_STATE_DIR may be relative or absolute
pids=()      # infrastructure (the embedded Redis), stopped last
app_pids=()  # workers, notifier, gateway

cleanup() {
  echo
  echo "==> stopping"
  # Apps first (they drain and hand their partitions back through Redis), Redis last.
  for pid in "${app_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${app_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap "exit 130" INT TERM

if [ -z "${PROPEL_REDIS_URL:-${REDIS_URL:-}}" ] && [ -z "${PROPEL_REDIS_CLUSTER:-}" ]; then
  REDIS_PORT="${PROPEL_EMBEDDED_REDIS_PORT:-6390}"
  echo "==> no Redis configured: starting an embedded redis-server on 127.0.0.1:$REDIS_PORT (AOF, appendfsync everysec, data in $STATE_DIR/redis)"
  # setsid: a Ctrl-C in the terminal must not reach Redis before the apps have drained through it.
  setsid redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$STATE_DIR/redis" --appendonly yes --appendfsync everysec \
    --save "" --logfile "$STATE_DIR/logs/redis.log" --daemonize no &
  pids+=($!)
  for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    echo "the embedded redis-server did not answer on port $REDIS_PORT; see $STATE_DIR/logs/redis.log (a port in use? set PROPEL_EMBEDDED_REDIS_PORT)" >&2
    exit 1
  fi
  export PROPEL_REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
fi

# /metrics and /health: each process its own port (workers 9464, 9465, ...; the notifier 9460; the gateway its own).
for i in $(seq 1 "$WORKERS"); do
  echo "==> starting worker $i (log: $STATE_DIR/logs/worker-$i.log, metrics: http://localhost:$((9463 + i))/metrics)"
  PROPEL_METRICS_PORT="$((9463 + i))" node -r ./scripts/register.js apps/worker/main.ts >"$STATE_DIR/logs/worker-$i.log" 2>&1 &
  app_pids+=($!)
done

if [ -z "${PROPEL_ADMIN_TOKEN:-}" ]; then
  PROPEL_ADMIN_TOKEN="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
  echo "==> no PROPEL_ADMIN_TOKEN set: generated one for this run (printed below)"
fi
export PROPEL_ADMIN_TOKEN
GATEWAY_PORT="${PORT:-3000}"
echo "==> starting the gateway on port $GATEWAY_PORT (log: $STATE_DIR/logs/gateway.log)"
PORT="$GATEWAY_PORT" node -r ./scripts/register.js apps/gateway/main.ts >"$STATE_DIR/logs/gateway.log" 2>&1 &
app_pids+=($!)

echo "==> starting the notifier (log: $STATE_DIR/logs/notifier.log, metrics: http://localhost:9460/metrics)"
PROPEL_METRICS_PORT=9460 node -r ./scripts/register.js apps/notifier/main.ts >"$STATE_DIR/logs/notifier.log" 2>&1 &
app_pids+=($!)

# Sweepers (splitter, loader and executor each): one leads the splitting, the others stand by and share the work.
for i in $(seq 1 "$SWEEPERS"); do
  echo "==> starting sweeper $i (log: $STATE_DIR/logs/sweeper-$i.log, metrics: http://localhost:$((9470 + i))/metrics)"
  PROPEL_METRICS_PORT="$((9470 + i))" node -r ./scripts/register.js apps/sweeper/main.ts >"$STATE_DIR/logs/sweeper-$i.log" 2>&1 &
  app_pids+=($!)
done

for i in $(seq 1 "$WORKERS"); do
  for _ in $(seq 1 100); do grep -q "ready " "$STATE_DIR/logs/worker-$i.log" 2>/dev/null && break; sleep 0.1; done
  grep -q "ready " "$STATE_DIR/logs/worker-$i.log" || { echo "worker $i did not start:"; cat "$STATE_DIR/logs/worker-$i.log"; exit 1; }
done
for i in $(seq 1 "$SWEEPERS"); do
  for _ in $(seq 1 100); do grep -q "ready " "$STATE_DIR/logs/sweeper-$i.log" 2>/dev/null && break; sleep 0.1; done
  grep -q "ready " "$STATE_DIR/logs/sweeper-$i.log" || { echo "sweeper $i did not start:"; cat "$STATE_DIR/logs/sweeper-$i.log"; exit 1; }
done

for _ in $(seq 1 100); do grep -q "ready " "$STATE_DIR/logs/gateway.log" 2>/dev/null && break; sleep 0.1; done
grep -q "ready " "$STATE_DIR/logs/gateway.log" || { echo "the gateway did not start:"; tail -5 "$STATE_DIR/logs/gateway.log"; exit 1; }

NS="${PROPEL_NAMESPACE:-propel}"
cat <<MSG

Propel is up: Redis at $PROPEL_REDIS_URL, $WORKERS workers, $SWEEPERS sweepers, a notifier and the gateway at
http://localhost:$GATEWAY_PORT (API docs: /docs; admin token: $PROPEL_ADMIN_TOKEN), namespace $NS.
Ops dashboard: http://localhost:$GATEWAY_PORT/ops (log in with your name and the admin token).
Try the ingest stream from any shell:
  redis-cli -u $PROPEL_REDIS_URL XADD "{$NS:ingest}:stream" '*' actor counter id alice type increment payload '{"by":5}'
and read the counter's record (version, state, history):
  PROPEL_REDIS_URL=$PROPEL_REDIS_URL npm run --silent ops -- inspect counter alice
Metrics and health (docs/observability.md): the gateway's /metrics and /health, workers on ports 9464-$((9463 + WORKERS)), sweepers on 9471-$((9470 + SWEEPERS)),
the notifier on 9460. Logs: $STATE_DIR/logs/. Ctrl-C stops everything.
MSG
wait -n "${pids[@]}" "${app_pids[@]}"
