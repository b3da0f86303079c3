#!/bin/sh
# Instructions per memory get, plain and instrumented, under callgrind: the
# same on any host, whatever else the machine runs. Only the get loop is
# counted (`--toggle-collect` on `instrument::gets`), so setup (the
# recorder's clock calibration varies run to run) does not enter:
# Ir(loop) / N. moka's housekeeping varies a little: ROUNDS rounds,
# alternating the sides, and the median of each.
#
#   cargo bench -p cache-benches --bench instrument --no-run
#   sh benches/callgrind-instrument.sh [N] [ROUNDS]
set -eu
cd "$(dirname "$0")/.."
N=${1:-20000}
ROUNDS=${2:-5}
SIDES="plain no-recorder recorder every-op"
# The bench binary cargo built last (CARGO_TARGET_DIR as cargo reads it).
BIN=$(ls -t "${CARGO_TARGET_DIR:-target}"/release/deps/instrument-* | grep -v '\.d$' | head -n 1)
ir() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect='instrument::gets' \
    "$BIN" --callgrind "$1" "$2" 2>&1 | sed -n 's/.*Collected : //p'
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for _ in $(seq "$ROUNDS"); do
  for side in $SIDES; do
    echo $(($(ir "$side" "$N") / N)) >>"$tmp/$side"
  done
done
median() { sort -n "$1" | sed -n "$((($(wc -l <"$1") + 1) / 2))p"; }
plain=$(median "$tmp/plain")
echo "instructions per memory get (hit, 1 KiB), median of $ROUNDS rounds of $N gets:"
for side in $SIDES; do
  m=$(median "$tmp/$side")
  printf '  %-12s %5d  %s\n' "$side" "$m" "$(echo "scale=3; $m / $plain" | bc)x plain"
done
