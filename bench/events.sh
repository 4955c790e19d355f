#!/usr/bin/env bash
# bench/events.sh [SWITCHBOARD-BINARY]: AppSync Events beside GraphQL on the same shapes, each
# on a fresh in-memory node: S1 (10,000 connections, one per user, 16 publishers flat out) and
# S2 (10,000 connections on one user, 4 publishers), each over graphql-transport-ws, AppSync's
# GraphQL protocol and AppSync Events (channel /default/u{n}, POST /event). 2 s warm-up, 10 s
# measured, 2 s drain. Prints each generator's summary on stderr and the JSON lines on stdout.
# bench/run.sh runs the same two Events rows in the full results.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
switchboard=${1:-target/release/switchboard}
key=da2-bench-key
port=14191
work=$(mktemp -d)
server=
trap 'kill $server 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

row() {
  local scenario=$1 protocol=$2 users=$3 publishers=$4
  "$switchboard" --listen 127.0.0.1:$port --api-key $key >"$work/server.log" 2>&1 &
  server=$!
  until grep -q 'Switchboard is listening' "$work/server.log"; do sleep 0.05; done
  target/release/switchboard-bench --url "http://127.0.0.1:$port/graphql" --api-key $key \
    --protocol "$protocol" --subscribers 10000 --users "$users" --publishers "$publishers" \
    --warmup 2s --duration 10s --drain 2s --server-pid $server --label "$scenario/$protocol"
  kill $server
  wait $server 2>/dev/null || true
}

for protocol in transport-ws appsync events; do
  row S1 "$protocol" 10000 16
done
for protocol in transport-ws appsync events; do
  row S2 "$protocol" 1 4
done
