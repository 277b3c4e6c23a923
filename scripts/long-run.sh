#!/usr/bin/env bash
# How a run's cost grows with its length: smoke's seed-1 scenario stretched to RECORDS records (at 100
# records/s, so RECORDS x 10 ms of fault phase) with the leader of events/0 crashed for 1.5 s every
# 4 s, run once for each length and timed. Linear growth doubles the time with the records; what the
# state checker reads again at every sample shows as more. `streamsim bench` runs the same scenario at
# 4,000 and 16,000 records and prints their ratio; this script takes any lengths, and the peak memory.
# Usage: scripts/long-run.sh [RECORDS...]   (default: 1000 4000 16000; prints a Markdown table;
# needs GNU time at /usr/bin/time)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /usr/bin/time ] || { echo "long-run: /usr/bin/time (GNU time) is not installed" >&2; exit 2; }
[ $# -eq 0 ] && set -- 1000 4000 16000
cargo build --release --quiet --bin streamsim
bin=target/release/streamsim
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
echo "| records | wall s | µs per record | peak MB | trace hash |"
echo "|---|---|---|---|---|"
for records in "$@"; do
  file="$dir/long-$records.toml"
  fault_phase_ms=$((records * 10))
  # The scenario without its faults, stretched.
  "$bin" show --scenario smoke --seed 1 |
    awk '/^\[\[fault\]\]/ { exit } { print }' |
    sed -e "s/^fault_phase_ms = .*/fault_phase_ms = $fault_phase_ms/" \
        -e "s/^liveness_phase_ms = .*/liveness_phase_ms = 120000/" \
        -e "s/^records = .*/records = $records/" \
        -e "s/^rate_per_sec = .*/rate_per_sec = 100/" >"$file"
  for ((at = 3281; at <= fault_phase_ms - 3000; at += 4000)); do
    printf '\n[[fault]]\nat_ms = %d\nfor_ms = 1500\nkind = "crash"\ntarget = "leader-of:events/0"\n' "$at" >>"$file"
  done
  out=$(/usr/bin/time -f "%e %M" "$bin" run --scenario-file "$file" --seed 1 2>"$dir/time")
  read -r wall kb <"$dir/time"
  hash=$(printf '%s\n' "$out" | awk '/trace hash/ { print $3 }')
  python3 -c "import sys; r, w, kb = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]); print(f'| {r} | {w:.2f} | {w * 1e6 / r:.0f} | {kb / 1024:.0f} | {sys.argv[4]} |')" \
    "$records" "$wall" "$kb" "$hash"
done
