#!/usr/bin/env bash
# The logic overhead of `streamsim bench`, counted in instructions instead of wall-clock time: for one
# seed of each named scenario, valgrind's callgrind counts the instructions of `streamsim run` and of
# the bare-madsim baseline the bench compares it with (the same nodes, timer wakeups, network messages
# and simulated time, from the run's report). Instruction counts do not move with the machine's load,
# so two builds can be compared on a busy machine. Each count includes the process's start-up (about
# 0.5M instructions for the baseline, 0.7M for streamsim). callgrind counts each iteration of a `rep
# movs`/`rep stos` as an instruction, and glibc's memcpy and memset use them from a few KiB on, so a
# large copy or clear would count one instruction per byte, far more than its time: the script sets
# glibc's tunables so that both programs copy and clear with vector loops instead (about one
# instruction per 16-32 bytes; a no-op where glibc or x86 is not what runs).
# Usage: scripts/count-instructions.sh [SEED=1] [SCENARIO...]   (prints a Markdown table; all named
# scenarios when none is given; needs valgrind and python3)
set -euo pipefail
cd "$(dirname "$0")/.."
seed=${1:-1}
shift || true
command -v valgrind >/dev/null || { echo "count-instructions: valgrind is not installed" >&2; exit 2; }
cargo build --release --quiet --bin streamsim
cargo build --release --quiet -p sim --example baseline
bin=target/release/streamsim
baseline=target/release/examples/baseline
if [ $# -eq 0 ]; then
  set -- $("$bin" list | awk '/^Scenarios:/ { on = 1; next } /^[^ ]/ { on = 0 } on && /^  [a-z]/ { print $1 }')
fi
# The `I refs` total callgrind prints for a command.
instructions() {
  GLIBC_TUNABLES=glibc.cpu.x86_rep_stosb_threshold=0xffffffffffff:glibc.cpu.x86_rep_movsb_threshold=0xffffffffffff \
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
    awk '/I *refs:/ { gsub(",", "", $NF); print $NF }'
}
echo "| scenario (seed $seed) | streamsim | baseline | logic overhead (instructions) |"
echo "|---|---|---|---|"
for scenario in "$@"; do
  spec=$("$bin" run --scenario "$scenario" --seed "$seed" --json | python3 -c '
import json, sys
report = json.load(sys.stdin)
print(report["nodes"], report["timer_wakeups"], report["network_messages"], report["sim_time_ms"])')
  ours=$(instructions "$bin" run --scenario "$scenario" --seed "$seed")
  # shellcheck disable=SC2086 # $spec is four numbers
  theirs=$(instructions "$baseline" $spec)
  python3 -c "import sys; s, b = int(sys.argv[2]), int(sys.argv[3]); print(f'| {sys.argv[1]} | {s / 1e6:.1f}M | {b / 1e6:.1f}M | {b / s:.2f}x |')" \
    "$scenario" "$ours" "$theirs"
done
