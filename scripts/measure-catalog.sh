#!/usr/bin/env bash
# Measures what the scenarios issue asks for: every named scenario passes N seeds on the correct
# build, and every bug in the catalog fails its scenario (how often, first failing seed, kinds).
# Usage: scripts/measure-catalog.sh [CORRECT_SEEDS=500] [BUG_SEEDS=200]   (prints a Markdown table)
set -euo pipefail
cd "$(dirname "$0")/.."
correct_seeds=${1:-500}
bug_seeds=${2:-200}
cargo build --release --quiet
bin=target/release/streamsim
out=$(mktemp -d)
echo "| scenario | seeds | failing | defining coverage reached |"
echo "|---|---|---|---|"
for scenario in smoke retention-eviction offset-commit partition-growth pid-loss follower-truncation leader-failover wiped-replica group-rebalance swarm; do
  CI=1 "$bin" fuzz --scenario "$scenario" --seeds "$correct_seeds" --json > "$out/$scenario.json" 2>/dev/null || true
  python3 - "$out/$scenario.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
for name, t in s["totals"].items():
    marks = ", ".join(f"{m} {n}" for m, n in t["coverage"].items())
    missing = " (missing: " + ", ".join(t["missing_coverage"]) + ")" if t["missing_coverage"] else ""
    print(f"| {name} | {t['seeds']} | {t['failures']} | {marks}{missing} |")
PY
done
echo
echo "| bug | scenario | seeds | failing | first failing seed | anomalies (failing seeds per kind) |"
echo "|---|---|---|---|---|---|"
"$bin" list | python3 -c "
import sys
for line in sys.stdin:
    if 'scenario:' in line:
        print(line.split('scenario:')[1].split(';')[0].strip())
" > "$out/scenarios"
names=$("$bin" list | awk '/^Bugs/{b=1;next} b && /^  [a-z]/ {print $1}')
paste -d' ' <(echo "$names") <(cat "$out/scenarios") | while read -r bug scenario; do
  CI=1 "$bin" fuzz --scenario "$scenario" --bug "$bug" --seeds "$bug_seeds" --json > "$out/bug-$bug.json" 2>/dev/null || true
  python3 - "$out/bug-$bug.json" "$bug" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
for name, t in s["totals"].items():
    kinds = ", ".join(f"{k} {n}" for k, n in t["failures_by_kind"].items())
    print(f"| `{sys.argv[2]}` | {name} | {t['seeds']} | {t['failures']} | {t['first_failure']} | {kinds} |")
PY
done
rm -rf "$out"
