#!/usr/bin/env bash
# bench/redis_receipt.sh [SWITCHBOARD-BINARY] [LABEL] [PROTOCOL]: how soon a new subscription is
# live on Redis under S1 load. S1 (10,000 connections, one per user, 16 publishers flat out; 2 s
# warm-up, 10 s measured, 2 s drain) on one node with `--redis-url` (a fresh `redis-server`),
# while 1,000 new connections a second (10,000 in the window) each subscribe to a user of their
# own and, once confirmed, publish one status to it (`--churn 1000`). Reports subscribe-to-ack
# (the subscribe written to its confirmation) and subscribe-to-live (to its own status received)
# p50/p99, and how many churners missed their status. PROTOCOL defaults to
# transport-ws. Prints the generator's summary on stderr and its JSON line on stdout.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
switchboard=${1:-target/release/switchboard}
label=${2:-S1+receipt/switchboard-redis}
protocol=${3:-transport-ws}
key=da2-bench-key
redis_port=14190
port=14191
work=$(mktemp -d)
trap 'kill $server $redis 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

redis-server --port $redis_port --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$work" >"$work/redis.log" 2>&1 &
redis=$!
until redis-cli -p $redis_port ping >/dev/null 2>&1; do sleep 0.05; done

# Every churner publishes from 127.0.0.1: lift the per-address HTTP connection cap.
"$switchboard" --listen 127.0.0.1:$port --api-key $key \
  --redis-url "redis://127.0.0.1:$redis_port" \
  --max-http-connections-per-address 4096 >"$work/server.log" 2>&1 &
server=$!
until grep -q 'Switchboard is listening' "$work/server.log"; do sleep 0.05; done

target/release/switchboard-bench --url "http://127.0.0.1:$port/graphql" --api-key $key \
  --protocol "$protocol" --subscribers 10000 --users 10000 --publishers 16 \
  --churn 1000 \
  --warmup 2s --duration 10s --drain 2s --server-pid $server --label "$label"
