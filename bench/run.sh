#!/usr/bin/env bash
# bench/run.sh [smoke|full]: every scenario (S1–S6) against Switchboard and the two peers, and S1
# and S2 over Switchboard's AppSync Events (channels, POST /event)
# (bench/peers/graphql-ws, bench/peers/appsync-simulator) in one run, each on a fresh server
# process, then `switchboard-bench report` renders the results markdown:
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

server_pid=
bench_pid=
# Extra arguments for the next Switchboard server (S6 sets a history budget).
server_args=()
next_port=14100

log() { printf '%s\n' "$*" >&2; }

# The server's process is a child of this shell: zombies count as stopped.
alive() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) && [ "${state#Z}" = "$state" ]
}

stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 50); do
    alive "$server_pid" || break
    sleep 0.1
  done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
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

# start_server SERVER LOG: a fresh server on a free port; sets server_pid and port.
start_server() {
  local server=$1 server_log=$2 ready cmd
  free_port
  case $server in
    switchboard | switchboard-appsync | switchboard-events)
      cmd=("$switchboard" --listen "127.0.0.1:$port" --api-key "$key" "${server_args[@]}")
      ready='Switchboard is listening'
      ;;
    graphql-ws)
      cmd=(node bench/peers/graphql-ws/server.mjs --port "$port" --api-key "$key")
      ready='^ready$'
      ;;
    appsync-simulator)
      cmd=(node bench/peers/appsync-simulator/server.mjs --port "$port" --api-key "$key")
      ready='^ready$'
      ;;
  esac
  "${cmd[@]}" >"$server_log" 2>&1 &
  server_pid=$!
  local deadline=$((SECONDS + 30))
  until grep -q "$ready" "$server_log"; do
    if ! alive "$server_pid"; then
      echo "the server exited before it was ready:" && tail -n 2 "$server_log" && return 1
    fi
    if ((SECONDS >= deadline)); then
      echo "the server was not ready within 30 s:" && tail -n 2 "$server_log" && return 1
    fi
    sleep 0.05
  done
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
  if ! start_server "$server" "$id.server.log" >"$id.failed"; then
    log "$scenario/$server: $(cat "$id.failed")"
    stop_server
    return 0
  fi
  log "$scenario/$server on port $port (pid $server_pid)"
  # In the background so that a signal to this script is handled at once (its trap stops
  # both); `timeout` passes a TERM on to the generator.
  timeout -k 5 "$run_limit" "$bench" \
    --url "http://127.0.0.1:$port/graphql" --api-key "$key" --protocol "$protocol" \
    --server-pid "$server_pid" --label "$scenario/$server" "$@" \
    >"$id.json" 2>"$id.bench.log" &
  bench_pid=$!
  wait "$bench_pid" || rc=$?
  bench_pid=
  stop_server
  if [ "$rc" -eq 0 ] && [ -s "$id.json" ]; then
    rm -f "$id.failed"
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
