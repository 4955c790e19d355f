#!/usr/bin/env bash
# Builds the image and smoke-tests it: the container becomes healthy, a status published over
# HTTP reaches a subscriber, and SIGTERM stops it cleanly. Needs a Docker engine; where there is
# none (our CI machines), it says so and exits 0: the image compiles the same sources with the
# `dynamodb` feature, which CI builds and tests (--all-features).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! docker info >/dev/null 2>&1; then
  echo "docker/check.sh: no Docker engine here; skipped (CI builds and tests the same sources with every feature)"
  exit 0
fi

[ -x target/release/switchboard ] || cargo build --release --locked
image=switchboard:check
name=switchboard-check-$$
key=da2-check-key
docker build -f docker/Dockerfile -t "$image" .
docker run -d --name "$name" -p 127.0.0.1::4000 -e SWITCHBOARD_API_KEY="$key" "$image" >/dev/null
trap 'docker rm -f "$name" >/dev/null 2>&1 || true' EXIT
port=$(docker port "$name" 4000/tcp | head -1 | sed 's/.*://')
url="http://127.0.0.1:$port/graphql"

for _ in $(seq 1 30); do
  [ "$(docker inspect -f '{{.State.Health.Status}}' "$name")" = healthy ] && break
  sleep 1
done
[ "$(docker inspect -f '{{.State.Health.Status}}' "$name")" = healthy ] || { echo "never healthy"; docker logs "$name"; exit 1; }

./target/release/switchboard subscribe --url "$url" --api-key "$key" --user-id u1 --count 1 > /tmp/"$name".out &
sub=$!
sleep 1
./target/release/switchboard publish --url "$url" --api-key "$key" --user-id u1 --job-id j1 --status complete >/dev/null
wait "$sub"
grep -q '"status":"complete"' /tmp/"$name".out || { echo "the subscriber got nothing"; exit 1; }

docker stop -t 15 "$name" >/dev/null
[ "$(docker inspect -f '{{.State.ExitCode}}' "$name")" = 0 ] || { echo "unclean exit"; docker logs "$name"; exit 1; }
echo "docker/check.sh: image healthy, delivered a status, stopped cleanly"
