#!/usr/bin/env bash
# Instructions per request/response, supervised vs plain actix; per restart
# of a supervised child; per child spawned and per child stopped, supervised
# vs plain actix. Counted by callgrind: deterministic, unlike wall-clock time
# on a shared machine, so this script, not bench_report, judges the
# request/response ratio.
# Usage: bash benches/instructions.sh [requests] [children]   (needs valgrind)
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-100000}
children=${2:-10000}
cargo build --release --example bench_instructions >/dev/null 2>&1
binary=target/release/examples/bench_instructions
count() {
  BENCH_MODE=$1 BENCH_REQUESTS=$2 valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    "$binary" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
echo "commit $(git rev-parse --short=10 HEAD), $(date -u '+%Y-%m-%d %H:%M UTC'), $requests requests, $children children"
raw=$(( $(count raw "$requests") - $(count raw 0) ))
sup=$(( $(count supervised "$requests") - $(count supervised 0) ))
echo "instructions per request/response: raw actix $(( raw / requests )), supervised $(( sup / requests ))"
python3 -c "print(f'throughput ratio supervised/raw, by instructions: {$raw / $sup:.3f}')"
handle=$(( $(count supervised-handle "$requests") - $(count supervised-handle 0) ))
echo "instructions per request/response through ChildHandle::send: $(( handle / requests ))"
python3 -c "print(f'throughput ratio through the handle/raw, by instructions: {$raw / $handle:.3f}')"
restarts=$(( requests / 20 ))
for exit in error panic; do
  per=$(( ($(count "restart-$exit" "$restarts") - $(count "restart-$exit" 0)) / restarts ))
  echo "instructions per restart ($exit), with the round trip after it: $per"
done
actix=$(( ($(count restart-actix "$restarts") - $(count restart-actix 0)) / restarts ))
restart_floor=$(( ($(count restart-floor "$restarts") - $(count restart-floor 0)) / restarts ))
echo "instructions per restart in place by actix::Supervisor after ctx.stop() (same value), with the round trip after it: $actix"
echo "instructions per restart of the floor model (actix::Supervisor plus the reason, clock, intensity window, record, fresh value and start barrier any supervisor needs), with the round trip: $restart_floor"
floor=$(( ($(count panic-floor "$restarts") - $(count panic-floor 0)) / restarts ))
echo "instructions per panic caught one frame away (the floor of a restart after a panic): $floor"
declare -A spawned stopped
for side in raw supervised; do
  base=$(count "spawn-$side" 0)
  spawn=$(count "spawn-$side" "$children")
  stop=$(( $(count "stop-$side" "$children") - $(count "stop-$side" 0) ))
  spawned[$side]=$(( (spawn - base) / children ))
  stopped[$side]=$(( (stop - (spawn - base)) / children ))
done
echo "instructions per child spawned until started: raw actix ${spawned[raw]}, supervised ${spawned[supervised]}"
echo "instructions per child stopped: raw actix ${stopped[raw]}, supervised ${stopped[supervised]}"
floor_spawn=$(( $(count spawn-floor "$children") - $(count spawn-floor 0) ))
floor_stop=$(( $(count stop-floor "$children") - $(count stop-floor 0) - floor_spawn ))
echo "instructions per child for the floor model (a raw actor, its name, one shared allocation, a table slot): spawn $(( floor_spawn / children )), stop $(( floor_stop / children ))"
python3 -c "print(f'spawn rate ratio supervised/raw, by instructions: {${spawned[raw]} / ${spawned[supervised]}:.3f}')"
python3 -c "print(f'stop time ratio supervised/raw, by instructions: {${stopped[supervised]} / ${stopped[raw]}:.3f}')"
