#!/usr/bin/env bash
# bench/history_cost.sh: what one kept status costs in a single node's memory.
#
# Two fresh servers, each published to flat out for a while by switchboard-bench (one
# subscriber, round-robin users), then the server's RSS growth is divided by what its streams
# keep (from /metrics: statuses published, and the settings):
#   entries: 1,000 users, 100 kept each: ~100,000 kept statuses, all topics long since created;
#   topics:  200,000 users, one kept each: the cost of a topic (its stream, key and epoch) with
#            one status.
# Prints one line per case. Needs a release build (cargo build --release -p switchboard
# -p switchboard-bench).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
key=da2-bench-key
port=14090

measure() { # name users per_topic seconds
  local name=$1 users=$2 per_topic=$3 seconds=$4
  target/release/switchboard --listen 127.0.0.1:$port --api-key $key \
    --history-per-topic "$per_topic" --history-max-topics 10000000 \
    --history-max-bytes 8589934592 >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break
    sleep 0.1
  done
  local before after published
  before=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  target/release/switchboard-bench --url "http://127.0.0.1:$port/graphql" --api-key $key \
    --subscribers 1 --users "$users" --pick round-robin --publishers 8 \
    --warmup 0s --duration "${seconds}s" --drain 1s --server-pid $pid --label "$name" >/dev/null 2>&1
  after=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  published=$(curl -s "http://127.0.0.1:$port/metrics" |
    awk '/^switchboard_statuses_published_total/ {print $2}')
  kill $pid
  wait $pid 2>/dev/null || true
  local kept=$published
  if [ "$published" -gt $((users * per_topic)) ]; then kept=$((users * per_topic)); fi
  echo "$name: $published published, $kept kept; RSS $before -> $after KiB;" \
    "$(((after - before) * 1024 / kept)) bytes per kept status"
}

measure entries 1000 100 15
measure topics 200000 1 20
