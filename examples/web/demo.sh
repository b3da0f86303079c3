#!/usr/bin/env bash
# Watch server B serve what server A cached, in one command:
#
#   examples/web/demo.sh
#
# Starts a throwaway redis-server (no persistence, loopback, first free port
# from 6380) and two instances of the example service, makes a few requests
# and prints them, updates a product on A and reads it on B, restarts A,
# waits out the expiry, then cleans everything up. Needs redis-server and curl. Never touches a Redis on port 6379.
set -euo pipefail
cd "$(dirname "$0")/../.."

for tool in redis-server curl cargo; do
  if ! command -v "$tool" >/dev/null; then
    echo "demo: $tool is required (redis-server: apt-get install redis-server, or brew install redis)" >&2
    exit 1
  fi
done

echo "== building the example (cargo build -p cache-example-web)"
cargo build --quiet -p cache-example-web
bin="${CARGO_TARGET_DIR:-target}/debug/cache-example-web"

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

redis_port=""
for p in $(seq 6380 6399); do
  if ! port_in_use "$p"; then redis_port="$p"; break; fi
done
[ -n "$redis_port" ] || { echo "demo: no free port in 6380-6399 for redis-server" >&2; exit 1; }

echo "== redis-server on 127.0.0.1:$redis_port (throwaway: no persistence)"
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$work" --logfile "$work/redis.log" &
pids+=($!)
for _ in $(seq 50); do port_in_use "$redis_port" && break; sleep 0.1; done
port_in_use "$redis_port" || { echo "demo: redis-server did not start; see below" >&2; cat "$work/redis.log" >&2; exit 1; }

export CACHE_URL="redis://127.0.0.1:$redis_port"
export CACHE_ABSOLUTE_SECS="${CACHE_ABSOLUTE_SECS:-5}"

# start NAME: runs a server on a free port; sets $addr_NAME.
start() {
  local name="$1" out="$work/$1.out"
  rm -f "$out" # never read a previous run's address
  "$bin" --name "$name" --listen 127.0.0.1:0 >"$out" 2>>"$work/$1.log" &
  pids+=($!)
  eval "pid_$name=$!"
  for _ in $(seq 100); do
    if grep -q '^listening on ' "$out" 2>/dev/null; then
      eval "addr_$name=\$(sed -n 's#^listening on ##p' \"$out\" | head -n1)"
      return
    fi
    sleep 0.05
  done
  echo "demo: server $name did not start:" >&2
  cat "$work/$1.log" >&2
  exit 1
}

show() {
  echo "\$ curl $1"
  curl -sS "$1"
  echo
}

start a
start b
echo "== two servers on that Redis: a at $addr_a, b at $addr_b (absolute expiry ${CACHE_ABSOLUTE_SECS}s)"
echo
echo "== 1. a looks product 42 up: a miss, so the slow upstream is called (~300 ms)"
show "$addr_a/products/42"
echo "== b serves what a cached: a hit, computed_by a, no upstream call"
show "$addr_b/products/42"
show "$addr_a/stats"
show "$addr_b/stats"
echo
echo "== b again: now from its own memory (tier local)"
show "$addr_b/products/42"
echo "== a updates the price; the backplane drops b's local copy, b serves the new price"
echo "\$ curl -X PUT $addr_a/products/42 -d '{\"price_cents\": 999}'"
curl -sS -X PUT "$addr_a/products/42" -H 'content-type: application/json' -d '{"price_cents": 999}'
echo
show "$addr_b/products/42"
echo
echo "== 2. restart a (SIGTERM, as a deployment would): the cache is still there"
kill -TERM "$pid_a"
wait "$pid_a" 2>/dev/null || true
start a
show "$addr_a/products/42"
show "$addr_a/stats"
echo
echo "== 3. wait out the ${CACHE_ABSOLUTE_SECS}s absolute expiry: the upstream is called again"
sleep "$CACHE_ABSOLUTE_SECS"
show "$addr_b/products/42"
echo
echo "== server logs"
cat "$work/a.log" "$work/b.log"
