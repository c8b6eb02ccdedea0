#!/bin/sh
# Creates the Redis Cluster of docker/compose.yaml once, then exits 0 (the workers start after it).
# Run by the one-shot `redis-cluster-init` service; POSIX sh, because the redis image's /bin/sh is dash.
#
# Idempotent:
#   - every node fresh (knows only itself)   -> redis-cli --cluster create, then wait for cluster_state:ok
#   - the first node already says state ok    -> nothing to do
#   - nodes already joined but not yet ok     -> a restart still converging: wait for ok, never re-create
#   - some nodes joined, some fresh           -> a node lost its volume: stop and say so (repairing a
#                                                cluster is an operator's decision, not a start-up script's)
#
# Environment:
#   REDIS_NODES                  space-separated host:port of every node (required)
#   REDIS_PASSWORD               AUTH password of the nodes (optional; passed to redis-cli as REDISCLI_AUTH,
#                                so it never shows in a process list)
#   REDIS_CLUSTER_REPLICAS       replicas per master (default 1)
#   REDIS_CLUSTER_WAIT_SECONDS   how long to wait for PING and for cluster_state:ok (default 60)
set -eu

: "${REDIS_NODES:?REDIS_NODES must list the nodes, host:port separated by spaces}"
REPLICAS="${REDIS_CLUSTER_REPLICAS:-1}"
WAIT_SECONDS="${REDIS_CLUSTER_WAIT_SECONDS:-60}"
if [ -n "${REDIS_PASSWORD:-}" ]; then
  export REDISCLI_AUTH="$REDIS_PASSWORD"
fi

log() { echo "redis-cluster-init: $*"; }

# cli HOST:PORT ARGS...: one redis-cli command against one node.
cli() {
  node="$1"
  shift
  redis-cli -h "${node%:*}" -p "${node##*:}" "$@"
}

# info_field HOST:PORT FIELD: a field of CLUSTER INFO (empty when the node does not answer).
info_field() {
  cli "$1" cluster info 2>/dev/null | tr -d '\r' | sed -n "s/^$2://p"
}

# 1. Wait until every node answers PING (with AUTH when a password is set).
for node in $REDIS_NODES; do
  waited=0
  while :; do
    reply="$(cli "$node" ping 2>&1 || true)"
    case "$reply" in
      PONG) break ;;
      # Up but refusing us: waiting will not help.
      *NOAUTH* | *WRONGPASS* | *"AUTH failed"*)
        log "$node refuses AUTH: is REDIS_PASSWORD the same as the nodes' requirepass?"
        log "$reply"
        exit 1
        ;;
    esac
    waited=$((waited + 1))
    if [ "$waited" -ge "$WAIT_SECONDS" ]; then
      log "$node did not answer PING within ${WAIT_SECONDS}s: $reply"
      exit 1
    fi
    sleep 1
  done
done
log "all nodes answer PING: $REDIS_NODES"

# wait_ok: waits until every node reports cluster_state:ok.
wait_ok() {
  waited=0
  while :; do
    not_ok=""
    for node in $REDIS_NODES; do
      [ "$(info_field "$node" cluster_state)" = "ok" ] || not_ok="$not_ok $node"
    done
    if [ -z "$not_ok" ]; then
      log "cluster_state:ok on every node"
      return 0
    fi
    waited=$((waited + 1))
    if [ "$waited" -ge "$WAIT_SECONDS" ]; then
      log "cluster_state is not ok after ${WAIT_SECONDS}s on:$not_ok"
      # shellcheck disable=SC2086 # split on purpose: the first node that is not ok
      set -- $not_ok
      cli "$1" cluster info || true
      return 1
    fi
    sleep 1
  done
}

# 2. Already created?
first="${REDIS_NODES%% *}"
if [ "$(info_field "$first" cluster_state)" = "ok" ]; then
  log "$first already reports cluster_state:ok: nothing to create"
  wait_ok
  exit 0
fi

joined=""
fresh=""
for node in $REDIS_NODES; do
  if [ "$(info_field "$node" cluster_known_nodes)" -gt 1 ] 2>/dev/null; then
    joined="$joined $node"
  else
    fresh="$fresh $node"
  fi
done

if [ -n "$joined" ] && [ -z "$fresh" ]; then
  log "every node already belongs to a cluster (a restart): waiting for it to converge"
  wait_ok
  exit 0
fi
if [ -n "$joined" ]; then
  log "refusing to create: these nodes already belong to a cluster:$joined; these are empty:$fresh."
  log "A node lost its data volume. Re-add it by hand (CLUSTER FORGET on the others, then"
  log "redis-cli --cluster add-node ... [--cluster-slave]), or remove every volume to start over."
  exit 1
fi

# 3. Create. CLUSTER MEET (which redis-cli --cluster create sends) wants IP addresses, so the host names
# are resolved here; clients still see host names, from cluster-announce-hostname.
addresses=""
for node in $REDIS_NODES; do
  host="${node%:*}"
  ip="$(getent ahostsv4 "$host" | awk 'NR == 1 { print $1 }')"
  if [ -z "$ip" ]; then
    log "cannot resolve $host"
    exit 1
  fi
  addresses="$addresses $ip:${node##*:}"
done
log "creating the cluster:$addresses (replicas per master: $REPLICAS)"
# shellcheck disable=SC2086 # word splitting of $addresses is intended
redis-cli --cluster create $addresses --cluster-replicas "$REPLICAS" --cluster-yes
wait_ok
