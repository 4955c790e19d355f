#!/usr/bin/env bash
# bench/filter_s1.sh: S1 (10,000 connections, one per user, 16 publishers flat out; 2 s warm-up,
# 10 s measured, 2 s drain) twice on fresh in-memory servers: plain, then with a two-condition
# enhanced filter on every subscriber (`status eq validating` AND `message contains " "`, which
# every bench status passes, so both runs deliver the same). Prints each run's summary on
# stderr and JSON lines on stdout. Needs `cargo build --release -p switchboard -p switchboard-bench`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
key=da2-bench-key
port=14182
# The status schema with an enhanced-filter argument on onStatusUpdate.
schema=$(mktemp --suffix=.graphql)
trap 'rm -f "$schema"' EXIT
sed 's/onStatusUpdate(userId: ID!)/onStatusUpdate(userId: ID!, filter: AWSJSON)/' schema.graphql >"$schema"
grep -q 'filter: AWSJSON' "$schema"
filter='{"filterGroup":[{"filters":[{"fieldName":"status","operator":"eq","value":"validating"},{"fieldName":"message","operator":"contains","value":" "}]}]}'

run() { # label schema-args… -- bench-args…
  local label=$1
  shift
  local server_args=()
  while [ "$1" != -- ]; do server_args+=("$1"); shift; done
  shift
  local log
  log=$(mktemp)
  target/release/switchboard --listen 127.0.0.1:$port --api-key $key "${server_args[@]}" >"$log" 2>&1 &
  local server=$!
  until grep -q 'Switchboard is listening' "$log"; do sleep 0.05; done
  target/release/switchboard-bench --url "http://127.0.0.1:$port/graphql" --api-key $key \
    --protocol transport-ws --subscribers 10000 --users 10000 --publishers 16 \
    --warmup 2s --duration 10s --drain 2s --server-pid $server --label "$label" "$@"
  kill $server
  wait $server 2>/dev/null || true
  rm -f "$log"
}

run S1/plain --schema "$schema" --
run S1/filtered --schema "$schema" -- --filter "$filter"
