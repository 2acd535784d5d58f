#!/usr/bin/env bash
# Tailer throughput (MB/s, one core) reading a 256 MiB file of real
# kube-apiserver audit lines (testdata/k8s/capture-audit.log.gz repeated),
# from the start to caught up, beside `cat FILE > /dev/null` and `wc -l FILE`
# on the same file: the floor of reading it. The criterion bench
# (crates/whodid-tail/benches/tail.rs) reads the same file (page cache warm
# for all three). Goal: well above the pipeline's 100 MB/s.
#
# Usage: bench/tail.sh [--reuse]   (prints a table; criterion's full output
# in bench/out/tail.txt; --reuse takes the figures from the last run)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/out/tail
input=bench/out/tail/audit.log
if [ ! -s "$input" ]; then
  : > "$input"
  gzip -dc testdata/k8s/capture-audit.log.gz > bench/out/tail/once
  while [ "$(stat -c %s "$input")" -lt $((256 << 20)) ]; do
    cat bench/out/tail/once >> "$input"
  done
  rm bench/out/tail/once
fi
bytes=$(stat -c %s "$input")
if [ "${1:-}" != "--reuse" ]; then
  WHODID_TAIL_BENCH_FILE="$PWD/$input" cargo bench -p whodid-tail --bench tail \
    > bench/out/tail.txt 2>&1
fi

# Criterion prints "thrpt: [low mid high]" with a unit; the middle value in MB/s.
rate() {
  awk -v name="$1" '
    index($0, name) == 1 { found = 1 }
    found && /thrpt:/ {
      v = $4; u = $5
      if (u ~ /^GiB/) v *= 1073.741824; else if (u ~ /^MiB/) v *= 1.048576; else if (u ~ /^KiB/) v *= 0.001024
      printf "%.0f", v; exit
    }' bench/out/tail.txt
}

# Best of 5 runs of a command over the file, in MB/s (nanosecond wall clock).
floor() {
  local best=0 start end ns
  for _ in 1 2 3 4 5; do
    start=$(date +%s%N)
    "$@" > /dev/null
    end=$(date +%s%N)
    ns=$((end - start))
    if [ "$best" -eq 0 ] || [ "$ns" -lt "$best" ]; then best=$ns; fi
  done
  awk -v b="$bytes" -v ns="$best" 'BEGIN { printf "%.0f", b / 1e6 / (ns / 1e9) }'
}

lines=$(wc -l < "$input")
printf 'input: %s bytes, %s lines of kube-apiserver audit events\n\n' "$bytes" "$lines"
printf '%-44s %8s\n' "reader" "MB/s"
printf '%-44s %8s\n' "whodid-tail, plain active file" "$(rate tail/kube_audit_plain)"
printf '%-44s %8s\n' "whodid-tail, same content as a .gz backup" "$(rate tail/kube_audit_gz_backup)"
printf '%-44s %8s\n' "cat FILE > /dev/null" "$(floor cat "$input")"
printf '%-44s %8s\n' "wc -l FILE" "$(floor wc -l "$input")"
