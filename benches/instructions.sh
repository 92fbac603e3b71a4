#!/usr/bin/env bash
# Instructions per request/response, supervised vs plain actix, and per
# restart of a supervised child, counted by
# callgrind (deterministic, unlike wall-clock time on a shared machine).
# Usage: bash benches/instructions.sh [requests]   (needs valgrind)
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-100000}
cargo build --release --example bench_instructions >/dev/null 2>&1
binary=target/release/examples/bench_instructions
count() {
  BENCH_MODE=$1 BENCH_REQUESTS=$2 valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    "$binary" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
raw=$(( $(count raw "$requests") - $(count raw 0) ))
sup=$(( $(count supervised "$requests") - $(count supervised 0) ))
echo "instructions per request/response: raw actix $(( raw / requests )), supervised $(( sup / requests ))"
python3 -c "print(f'throughput ratio supervised/raw, by instructions: {$raw / $sup:.3f}')"
restarts=$(( requests / 20 ))
for exit in error panic; do
  per=$(( ($(count "restart-$exit" "$restarts") - $(count "restart-$exit" 0)) / restarts ))
  echo "instructions per restart ($exit), with the round trip after it: $per"
done
