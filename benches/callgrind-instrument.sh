#!/bin/sh
# Instructions per memory get, plain and instrumented, under callgrind: the
# same on any host, whatever else the machine runs. For each side, two runs
# (N and 2N gets) cancel the setup: (Ir(2N) - Ir(N)) / N. moka hashes with
# random keys, so a run varies by a few percent: ROUNDS rounds, alternating
# the sides, and the median of each.
#
#   cargo bench -p cache-benches --bench instrument --no-run
#   sh benches/callgrind-instrument.sh [N] [ROUNDS]
set -eu
cd "$(dirname "$0")/.."
N=${1:-20000}
ROUNDS=${2:-5}
BIN=$(ls -t target/release/deps/instrument-* | grep -v '\.d$' | head -n 1)
ir() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" --callgrind "$1" "$2" 2>&1 |
    sed -n 's/.*Collected : //p'
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for _ in $(seq "$ROUNDS"); do
  for side in plain no-recorder recorder sampled; do
    a=$(ir "$side" "$N")
    b=$(ir "$side" $((2 * N)))
    echo $(((b - a) / N)) >>"$tmp/$side"
  done
done
median() { sort -n "$1" | sed -n "$((($(wc -l <"$1") + 1) / 2))p"; }
plain=$(median "$tmp/plain")
echo "instructions per memory get (hit, 1 KiB), median of $ROUNDS rounds of $N gets:"
for side in plain no-recorder recorder sampled; do
  m=$(median "$tmp/$side")
  printf '  %-12s %5d  %s\n' "$side" "$m" "$(echo "scale=3; $m / $plain" | bc)x plain"
done
