#!/usr/bin/env bash
# bench/publish_script.sh [REV…]: Redis CPU per call of the bus's publish script, as it stands
# in each git revision given (default: the working tree), on a fresh redis-server: 200,000
# calls from redis-benchmark (16 clients) to one topic (redis-benchmark cannot keep a
# stream's and its meta's random names in step), a 300-byte status, 100 entries kept, then `INFO commandstats` (`usec_per_call` of `evalsha`, nested commands
# included). Revisions are measured in turn, twice round, so drift shows. Needs redis-server,
# redis-cli and redis-benchmark.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
port=14190
work=$(mktemp -d)
trap 'redis-cli -p $port shutdown nosave >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
revs=("$@")
[ ${#revs[@]} -eq 0 ] && revs=(WORKTREE)

script_of() { # rev -> the PUBLISH script's source (in scripts.rs since 2026-12-01, before in
  # redis_bus.rs)
  local file source
  for file in src/pubsub/redis_bus/scripts.rs src/pubsub/redis_bus.rs; do
    if [ "$1" = WORKTREE ]; then source=$(cat "$file" 2>/dev/null || true)
    else source=$(git show "$1:$file" 2>/dev/null || true); fi
    grep -q 'const PUBLISH: &str = r"$' <<<"$source" && break
  done
  awk '/const PUBLISH: &str = r"$/ {on=1; next} on && /^";$/ {exit} on {print}' <<<"$source"
}

event=$(printf '{"userId":"u","jobId":"j","status":"%0280d"}' 0)
for round in 1 2; do
  for rev in "${revs[@]}"; do
    redis-server --port $port --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
      >/dev/null 2>&1 &
    until redis-cli -p $port ping >/dev/null 2>&1; do sleep 0.05; done
    sha=$(redis-cli -p $port script load "$(script_of "$rev")")
    # KEYS: stream, meta; ARGV: event, entries kept, bytes kept, lifetime (ms), new epoch, no
    # idempotency key, PUBLISH.
    redis-benchmark -p $port -q -c 16 -n 200000 \
      evalsha "$sha" 2 "t:topic" "tm:topic" \
      "$event" 100 1048576 86400000 epoch-1 0 PUBLISH >/dev/null
    usec=$(redis-cli -p $port info commandstats |
      awk -F'[=,]' '/^cmdstat_evalsha:/ {print $6}')
    printf '%s round %s: %s us per publish script\n' "$rev" "$round" "$usec"
    redis-cli -p $port shutdown nosave >/dev/null 2>&1 || true
    sleep 0.2
  done
done
