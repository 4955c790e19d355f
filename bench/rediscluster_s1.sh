#!/usr/bin/env bash
# bench/rediscluster_s1.sh [NODES] [SHARDS]: S1 (10,000 connections, one per user, 16 publishers
# flat out; 2 s warm-up, 10 s measured, 2 s drain) against NODES Switchboard nodes (default 1)
# over a fresh Redis Cluster of SHARDS masters (default 3; 1 = one plain redis-server instead),
# everything on this machine. Prints the generator's summary, then each Redis process's CPU
# seconds during the run (INFO cpu before and after the generator): the figures behind
# docs/scaling.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
nodes=${1:-1}
shards=${2:-3}
key=da2-bench-key
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# A cluster node's port: its bus port, 10,000 higher, must be a free port too (the ephemeral
# range reaches past 55,535).
node_port() {
  python3 -c '
import socket
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    if p > 55535: continue
    try:
        b = socket.socket(); b.bind(("127.0.0.1", p + 10000)); b.close(); print(p); break
    except OSError: pass'
}

redis_ports=()
for _ in $(seq "$shards"); do
  p=$(node_port)
  redis_ports+=("$p")
  if [ "$shards" -gt 1 ]; then
    redis-server --port "$p" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
      --cluster-enabled yes --cluster-config-file "$work/nodes-$p.conf" \
      --cluster-node-timeout 2000 >"$work/redis-$p.log" 2>&1 &
  else
    redis-server --port "$p" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
      >"$work/redis-$p.log" 2>&1 &
  fi
  pids+=($!)
done
for p in "${redis_ports[@]}"; do
  until redis-cli -p "$p" ping >/dev/null 2>&1; do sleep 0.05; done
done
if [ "$shards" -gt 1 ]; then
  redis-cli --cluster create $(printf '127.0.0.1:%s ' "${redis_ports[@]}") \
    --cluster-replicas 0 --cluster-yes >"$work/create.log"
  for p in "${redis_ports[@]}"; do
    until redis-cli -p "$p" cluster info | grep -q cluster_state:ok; do sleep 0.1; done
  done
  url="redis+cluster://$(printf '127.0.0.1:%s,' "${redis_ports[@]}" | sed 's/,$//')"
else
  url="redis://127.0.0.1:${redis_ports[0]}"
fi

urls=()
server_pids=()
for n in $(seq "$nodes"); do
  p=$(port)
  target/release/switchboard --listen "127.0.0.1:$p" --api-key $key --node-id "bench-$n" \
    --redis-url "$url" >"$work/node-$n.log" 2>&1 &
  pids+=($!)
  server_pids+=($!)
  urls+=(--url "http://127.0.0.1:$p/graphql")
  until grep -q 'Switchboard is listening' "$work/node-$n.log"; do sleep 0.05; done
done

cpu() { redis-cli -p "$1" info cpu | awk -F: '/^used_cpu_(sys|user):/ {s += $2} END {printf "%.3f", s}'; }
declare -A before
for p in "${redis_ports[@]}"; do before[$p]=$(cpu "$p"); done
target/release/switchboard-bench "${urls[@]}" --api-key $key --protocol transport-ws \
  --subscribers 10000 --users 10000 --publishers 16 --warmup 2s --duration 10s --drain 2s \
  --server-pid "$(IFS=,; echo "${server_pids[*]}")" --label "S1/switchboard-${nodes}n-${shards}s"
for p in "${redis_ports[@]}"; do
  echo "redis :$p CPU $(echo "$(cpu "$p") - ${before[$p]}" | bc) s, keys $(redis-cli -p "$p" dbsize)" >&2
done
