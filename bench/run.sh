#!/usr/bin/env bash
# bench/run.sh [smoke|full]: every scenario (S1–S6) against Switchboard and the two peers
# (bench/peers/graphql-ws, bench/peers/appsync-simulator), S1 and S2 over Switchboard's AppSync
# Events (channels, POST /event), and S1 over Redis (one node, and three nodes, on one Redis and
# on a 3-shard Redis Cluster; needs redis-server and redis-cli) in one run, each on fresh server
# processes, then `switchboard-bench report` renders the results markdown:
#   full  → bench/results/<YYYY-MM-DD>.md        (the benchmark; takes several minutes)
#   smoke → bench/results/smoke-<YYYY-MM-DD>.md  (same shapes scaled down; under a minute)
# plus the runs' JSON lines beside it (.jsonl). Logs and raw files: target/bench-run/<mode>-<date>/.
set -euo pipefail

mode=${1:-full}
case $mode in
  smoke | full) ;;
  *) echo "usage: bench/run.sh [smoke|full]" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
date=$(date +%F)
prefix=$([ "$mode" = smoke ] && echo "smoke-" || true)
out=bench/results/$prefix$date.md
work=target/bench-run/$mode-$date
key=da2-bench-key
bench=target/release/switchboard-bench
switchboard=target/release/switchboard

# Scenario shapes. Smoke keeps every shape but scales it down so the whole run stays under a
# minute after the build: 500 connections, 1 s windows, short settle and drain.
if [ "$mode" = full ]; then
  conns=10000 idle_conns=19000 scale_conns=19800
  timing=(--warmup 2s --duration 10s --drain 2s --settle 3s)
  s1_publishers=16 s2_publishers=4 s4_rate=2000 s5_rate=4000 s6_churn=2000
  s6_timing=(--warmup 2s --duration 60s --drain 2s --settle 3s)
  run_limit=600
else
  conns=500 idle_conns=500 scale_conns=1000
  timing=(--warmup 0.5s --duration 1s --drain 0.5s --settle 0.5s)
  s1_publishers=16 s2_publishers=4 s4_rate=2000 s5_rate=2000 s6_churn=200
  s6_timing=("${timing[@]}")
  run_limit=60
fi

# The current row's server: one process, or one per node (its pids and ports in step), plus
# the Redis they share for the switchboard-redis* rows: one redis-server, or the three of a
# Redis Cluster (pids and ports in step), their files in redis_dir.
server_pids=()
server_ports=()
redis_pids=()
redis_ports=()
redis_dir=
bench_pid=
# Extra arguments for the next Switchboard server (S6 sets a history budget).
server_args=()
next_port=14100

log() { printf '%s\n' "$*" >&2; }

# The server's processes are children of this shell: zombies count as stopped.
alive() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) && [ "${state#Z}" = "$state" ]
}

# stop PID…: SIGTERM to each, SIGKILL to those still running 5 s later.
stop() {
  local pid running
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null || true
  for _ in $(seq 50); do
    running=
    for pid; do alive "$pid" && running=1; done
    [ -n "$running" ] || break
    sleep 0.1
  done
  kill -KILL "$@" 2>/dev/null || true
  for pid; do wait "$pid" 2>/dev/null || true; done
}

# Every process of the current row: the nodes first, then the Redis they were using.
stop_server() {
  stop "${server_pids[@]}"
  server_pids=() server_ports=()
  stop "${redis_pids[@]}"
  redis_pids=() redis_ports=()
  if [ -n "$redis_dir" ]; then
    rm -rf "$redis_dir"
    redis_dir=
  fi
}

cleanup() {
  if [ -n "$bench_pid" ]; then
    kill -TERM "$bench_pid" 2>/dev/null || true
    wait "$bench_pid" 2>/dev/null || true
  fi
  stop_server
}

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A loopback port below the ephemeral range (32768+), so no client socket holds it, that
# nothing listens on.
free_port() {
  while (exec 3<>"/dev/tcp/127.0.0.1/$next_port") 2>/dev/null; do
    next_port=$((next_port + 1))
  done
  port=$next_port
  next_port=$((next_port + 1))
}

# npm ci when node_modules is missing or was installed from another lockfile.
npm_install() {
  local dir=$1
  if ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.installed-package-lock.json"; then
    log "npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund) >&2
    cp "$dir/package-lock.json" "$dir/node_modules/.installed-package-lock.json"
  fi
}

# launch WHAT LOG READY CMD…: starts CMD (logging to LOG) as one of the row's Redis processes
# (WHAT starts with `redis`) or as one of its server processes (anything else), WHAT naming it
# in errors, and waits until LOG matches READY. The pid is recorded before the wait, so that
# stop_server stops it anyway.
launch() {
  local what=$1 launch_log=$2 ready=$3 pid
  shift 3
  # Created here, so the first grep does not race the background process's redirection.
  : >"$launch_log"
  "$@" >"$launch_log" 2>&1 &
  pid=$!
  case $what in
    redis*) redis_pids+=("$pid") ;;
    *) server_pids+=("$pid") ;;
  esac
  local deadline=$((SECONDS + 30))
  until grep -q "$ready" "$launch_log"; do
    if ! alive "$pid"; then
      echo "$what exited before it was ready:" && tail -n 2 "$launch_log" && return 1
    fi
    if ((SECONDS >= deadline)); then
      echo "$what was not ready within 30 s:" && tail -n 2 "$launch_log" && return 1
    fi
    sleep 0.05
  done
}

# start_redis LOG: a fresh redis-server on a free port, without persistence; sets redis_ports
# and redis_pids.
start_redis() {
  free_port
  redis_ports+=("$port")
  redis_dir=$(mktemp -d "$work/redis.XXXXXX")
  launch redis "$1" 'Ready to accept connections' \
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$redis_dir"
}

# start_redis_cluster ID: a fresh Redis Cluster of three masters and no replicas, without
# persistence: three redis-servers in cluster mode on free ports (each logging to
# ID.redis-K.log, their nodes-P.conf in a temporary directory), joined by `redis-cli --cluster
# create` (its output in ID.redis-create.log); returns once every node reports
# `cluster_state:ok`. Sets redis_ports and redis_pids.
start_redis_cluster() {
  local id=$1 k p seeds=() deadline config_dir
  redis_dir=$(mktemp -d "$work/redis-cluster.XXXXXX")
  # Absolute: redis-server enters --dir before it opens --cluster-config-file.
  config_dir=$(realpath "$redis_dir")
  for k in 1 2 3; do
    # A node also listens on its cluster bus port, the port + 10000.
    free_port
    while (exec 3<>"/dev/tcp/127.0.0.1/$((port + 10000))") 2>/dev/null; do
      free_port
    done
    redis_ports+=("$port")
    seeds+=("127.0.0.1:$port")
    launch "redis node $k" "$id.redis-$k.log" 'Ready to accept connections' \
      redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes \
      --cluster-config-file "$config_dir/nodes-$port.conf" --cluster-node-timeout 2000 \
      --save '' --appendonly no --dir "$redis_dir" || return 1
  done
  deadline=$((SECONDS + 30))
  for p in "${redis_ports[@]}"; do
    until [ "$(redis-cli -p "$p" ping 2>/dev/null)" = PONG ]; do
      if ((SECONDS >= deadline)); then
        echo "the Redis node on port $p did not answer PING within 30 s" && return 1
      fi
      sleep 0.05
    done
  done
  if ! redis-cli --cluster create "${seeds[@]}" --cluster-replicas 0 --cluster-yes \
    >"$id.redis-create.log" 2>&1; then
    echo "redis-cli --cluster create failed:" && tail -n 2 "$id.redis-create.log" && return 1
  fi
  deadline=$((SECONDS + 30))
  for p in "${redis_ports[@]}"; do
    until [[ $(redis-cli -p "$p" cluster info 2>/dev/null) == *cluster_state:ok* ]]; do
      if ((SECONDS >= deadline)); then
        echo "the Redis Cluster was not ok within 30 s (node on port $p:" \
          "$(redis-cli -p "$p" cluster info 2>&1 | grep -m 1 '^cluster_state' | tr -d '\r'))"
        return 1
      fi
      sleep 0.1
    done
  done
}

# redis_cpu: CPU seconds (used_cpu_user + used_cpu_sys of `INFO cpu`) the row's redis-servers
# have used so far, summed; fails (printing nothing) if one does not answer.
redis_cpu() {
  local p info=
  [ "${#redis_ports[@]}" -gt 0 ] || return 1
  for p in "${redis_ports[@]}"; do
    info+=$(redis-cli -p "$p" info cpu 2>/dev/null) || return 1
    info+=$'\n'
  done
  awk -F: '/^used_cpu_(sys|user):/ { n++; s += $2 } END { if (n) printf "%.3f\n", s; else exit 1 }' \
    <<<"$info"
}

# start_server SERVER ID: the row's fresh server on free ports, logging to ID.server.log (or
# ID.server-K.log per node, ID.redis.log for Redis, ID.redis-K.log per Redis Cluster node);
# sets server_pids and server_ports. On failure, prints why and returns 1.
start_server() {
  local server=$1 id=$2 nodes=1 k redis_url
  local switchboard_cmd=("$switchboard" --api-key "$key" "${server_args[@]}")
  case $server in
    switchboard-redis | switchboard-rediscluster) nodes=1 ;;
    switchboard-redis-3 | switchboard-rediscluster-3) nodes=3 ;;
  esac
  case $server in
    switchboard | switchboard-appsync | switchboard-events)
      free_port
      server_ports+=("$port")
      launch "the server" "$id.server.log" 'Switchboard is listening' \
        "${switchboard_cmd[@]}" --listen "127.0.0.1:$port"
      ;;
    switchboard-redis | switchboard-redis-3 | switchboard-rediscluster | switchboard-rediscluster-3)
      if [ "${server#switchboard-rediscluster}" != "$server" ]; then
        start_redis_cluster "$id" || return 1
        redis_url=redis+cluster://$(printf '127.0.0.1:%s,' "${redis_ports[@]}")
        redis_url=${redis_url%,}
      else
        start_redis "$id.redis.log" || return 1
        redis_url=redis://127.0.0.1:${redis_ports[0]}
      fi
      for k in $(seq "$nodes"); do
        local node_log=$id.server.log what="the server"
        if [ "$nodes" -gt 1 ]; then
          node_log=$id.server-$k.log what="node $k"
        fi
        free_port
        server_ports+=("$port")
        launch "$what" "$node_log" 'Switchboard is listening' \
          "${switchboard_cmd[@]}" --listen "127.0.0.1:$port" \
          --redis-url "$redis_url" --node-id "bench-$k" || return 1
      done
      ;;
    graphql-ws)
      free_port
      server_ports+=("$port")
      launch "the server" "$id.server.log" '^ready$' \
        node bench/peers/graphql-ws/server.mjs --port "$port" --api-key "$key"
      ;;
    appsync-simulator)
      free_port
      server_ports+=("$port")
      launch "the server" "$id.server.log" '^ready$' \
        node bench/peers/appsync-simulator/server.mjs --port "$port" --api-key "$key"
      ;;
  esac
}

# run SCENARIO SERVER BENCH-ARGS…: one row of the results.
run() {
  local scenario=$1 server=$2 protocol=transport-ws
  shift 2
  local id=$work/$scenario.$server started=$SECONDS rc=0
  case $server in
    switchboard-appsync | appsync-simulator) protocol=appsync ;;
    switchboard-events) protocol=events ;;
  esac
  local missing=
  case $server in
    switchboard-rediscluster*)
      command -v redis-server >/dev/null || missing=redis-server
      command -v redis-cli >/dev/null || missing=${missing:+$missing and }redis-cli
      ;;
    switchboard-redis*)
      command -v redis-server >/dev/null || missing=redis-server
      ;;
  esac
  if [ -n "$missing" ]; then
    echo "$missing is not installed" >"$id.skipped"
    log "$scenario/$server skipped: $missing is not installed"
    return 0
  fi
  if ! start_server "$server" "$id" >"$id.failed"; then
    log "$scenario/$server: $(cat "$id.failed")"
    stop_server
    return 0
  fi
  # One --url and one --server-pid per node.
  local nodes=() i
  for i in "${!server_ports[@]}"; do
    nodes+=(--url "http://127.0.0.1:${server_ports[i]}/graphql" --server-pid "${server_pids[i]}")
  done
  local redis_text=
  if [ "${#redis_pids[@]}" -gt 0 ]; then
    redis_text=", Redis on port(s) ${redis_ports[*]} (pid(s) ${redis_pids[*]})"
  fi
  log "$scenario/$server on port(s) ${server_ports[*]} (pid(s) ${server_pids[*]})$redis_text"
  # The Redis side's CPU over the generator's whole run (connecting, warm-up, window, drain),
  # from its own INFO: before here, after once the generator has exited.
  local redis_cpu_before= redis_cpu_after=
  redis_cpu_before=$(redis_cpu) || redis_cpu_before=
  # In the background so that a signal to this script is handled at once (its trap stops
  # both); `timeout` passes a TERM on to the generator.
  timeout -k 5 "$run_limit" "$bench" \
    "${nodes[@]}" --api-key "$key" --protocol "$protocol" \
    --label "$scenario/$server" "$@" \
    >"$id.json" 2>"$id.bench.log" &
  bench_pid=$!
  wait "$bench_pid" || rc=$?
  bench_pid=
  if [ -n "$redis_cpu_before" ]; then
    redis_cpu_after=$(redis_cpu) || redis_cpu_after=
  fi
  stop_server
  if [ "$rc" -eq 0 ] && [ -s "$id.json" ]; then
    rm -f "$id.failed"
    if [ -n "$redis_cpu_after" ]; then
      awk -v a="$redis_cpu_before" -v b="$redis_cpu_after" 'BEGIN { printf "%.3f\n", b - a }' \
        >"$id.redis-cpu"
      log "  Redis CPU: $(cat "$id.redis-cpu") s"
    fi
    sed -n '/^== /,$p' "$id.bench.log" >&2
  else
    {
      [ "$rc" -eq 124 ] && echo "switchboard-bench was stopped after $run_limit s" ||
        echo "switchboard-bench exited with status $rc"
      tail -n 3 "$id.bench.log"
    } >"$id.failed"
    rm -f "$id.json"
    log "$scenario/$server failed: $(head -n 1 "$id.failed")"
  fi
  log "  ($((SECONDS - started)) s)"
}

# Every server of a scenario, with the same generator arguments.
all_servers() {
  local scenario=$1
  shift
  for server in switchboard switchboard-appsync graphql-ws appsync-simulator; do
    run "$scenario" "$server" "$@"
  done
}

log "building (release)…"
cargo build --release -p switchboard -p switchboard-bench --locked
npm_install bench/peers/graphql-ws
npm_install bench/peers/appsync-simulator
rm -rf "$work"
mkdir -p "$work" bench/results
# The measured build's source: HEAD plus whatever was uncommitted when it was built.
git rev-parse HEAD >"$work/git-commit"
git status --porcelain >"$work/git-status"

log "running the $mode scenarios…"
began=$SECONDS
all_servers S1 --subscribers "$conns" --users "$conns" --publishers "$s1_publishers" "${timing[@]}"
run S1 switchboard-events --subscribers "$conns" --users "$conns" --publishers "$s1_publishers" "${timing[@]}"
# S1 over Redis (redis-server on this machine): one node, then three nodes sharing the
# subscribers and the publishers; on one redis-server, then on a 3-shard Redis Cluster.
for server in switchboard-redis switchboard-redis-3 switchboard-rediscluster switchboard-rediscluster-3; do
  run S1 "$server" --subscribers "$conns" --users "$conns" --publishers "$s1_publishers" "${timing[@]}"
done
all_servers S2 --subscribers "$conns" --users 1 --publishers "$s2_publishers" "${timing[@]}"
run S2 switchboard-events --subscribers "$conns" --users 1 --publishers "$s2_publishers" "${timing[@]}"
all_servers S3 --subscribers "$idle_conns" --users "$idle_conns" --idle "${timing[@]}"
all_servers S4 --subscribers "$conns" --users "$conns" --publishers 8 --rate "$s4_rate" "${timing[@]}"
run S5 switchboard --subscribers "$scale_conns" --users "$scale_conns" --publishers 8 \
  --rate "$s5_rate" --pick round-robin "${timing[@]}"
# S6: S4's steady load plus churn, on a node whose history budget fills early (so RSS after the
# run shows what connections leave behind, not kept statuses).
server_args=(--history-max-bytes 8388608 --max-http-connections-per-address 4096)
run S6 switchboard --subscribers "$conns" --users "$conns" --publishers 8 --rate "$s4_rate" \
  --churn "$s6_churn" "${s6_timing[@]}"
server_args=()
log "scenarios took $((SECONDS - began)) s"

cat "$work"/*.json >"${out%.md}.jsonl" 2>/dev/null || : >"${out%.md}.jsonl"
"$bench" report --results-dir "$work" --mode "$mode" --date "$date" \
  --command "bench/run.sh $mode" --out "$out"
log "wrote $out"
