#!/usr/bin/env bash
# bench/redis_s1.sh [SWITCHBOARD-BINARY] [LABEL]: S1 (10,000 connections, one per user, 16
# publishers flat out; 2 s warm-up, 10 s measured, 2 s drain) against one node with
# `--redis-url`, Redis on this machine (a fresh `redis-server`, no persistence). Prints the
# generator's summary on stderr and its JSON line on stdout. The binary defaults to
# target/release/switchboard; pass another build's to compare (see bench/README.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
switchboard=${1:-target/release/switchboard}
label=${2:-S1/switchboard-redis}
key=da2-bench-key
redis_port=14180
port=14181
work=$(mktemp -d)
trap 'kill $server $redis 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

redis-server --port $redis_port --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$work" >"$work/redis.log" 2>&1 &
redis=$!
until redis-cli -p $redis_port ping >/dev/null 2>&1; do sleep 0.05; done

"$switchboard" --listen 127.0.0.1:$port --api-key $key \
  --redis-url "redis://127.0.0.1:$redis_port" >"$work/server.log" 2>&1 &
server=$!
until grep -q 'Switchboard is listening' "$work/server.log"; do sleep 0.05; done

target/release/switchboard-bench --url "http://127.0.0.1:$port/graphql" --api-key $key \
  --protocol transport-ws --subscribers 10000 --users 10000 --publishers 16 \
  --warmup 2s --duration 10s --drain 2s --server-pid $server --label "$label"
