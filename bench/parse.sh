#!/usr/bin/env bash
# Parse throughput (lines/s, one core) of each source format, beside
# `grep -c ''` over the same bytes: the floor of what reading the lines
# costs. Inputs are the real fixtures of testdata/ repeated to 4 MiB, the
# same bytes the criterion bench (crates/whodid-parse/benches/parse.rs)
# parses in memory. Goal (issue 6): >= 1 million sshd lines/s per core.
#
# The bench parses from memory; grep reads the page cache and includes its
# process start (~1 ms of the ~5 ms it takes per file).
#
# Usage: bench/parse.sh [--reuse]   (prints a table; criterion's full output
# in bench/out/parse.txt; --reuse takes the figures from the last run)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/out
if [ "${1:-}" != "--reuse" ]; then
  cargo bench -p whodid-parse --bench parse -- --warm-up-time 2 --measurement-time 5 \
    > bench/out/parse.txt 2>&1
fi

# Criterion prints "thrpt: [low mid high]" with a unit; take the middle value.
rate() {
  awk -v name="$1" '
    index($0, name) == 1 { found = 1 }
    found && /thrpt:/ {
      v = $4; u = $5
      if (u ~ /^Gelem/) v *= 1e9; else if (u ~ /^Melem/) v *= 1e6; else if (u ~ /^Kelem/) v *= 1e3
      printf "%.0f", v; exit
    }' bench/out/parse.txt
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The fixture repeated until at least 4 MiB, as the bench does.
repeated() {
  local src=$1 out=$2 once size copies
  once="$work/once"
  case "$src" in
    *.gz) gzip -dc "testdata/$src" > "$once" ;;
    *) cp "testdata/$src" "$once" ;;
  esac
  size=$(stat -c %s "$once")
  copies=$(( (4194304 + size - 1) / size ))
  : > "$out"
  for _ in $(seq "$copies"); do cat "$once" >> "$out"; done
}

# Best of 5 runs of `grep -c ''`, in lines/s (nanosecond wall clock).
grep_rate() {
  local file=$1 lines best=0 start end ns
  lines=$(grep -c '' "$file")
  for _ in 1 2 3 4 5; do
    start=$(date +%s%N)
    grep -c '' "$file" > /dev/null
    end=$(date +%s%N)
    ns=$((end - start))
    if [ "$best" -eq 0 ] || [ "$ns" -lt "$best" ]; then best=$ns; fi
  done
  awk -v l="$lines" -v ns="$best" 'BEGIN { printf "%.0f", l / (ns / 1e9) }'
}

printf '%-36s %15s %16s %7s\n' "format (fixture repeated to 4 MiB)" "whodid lines/s" "grep -c lines/s" "ratio"
while read -r name file label; do
  repeated "$file" "$work/input"
  ours=$(rate "$name")
  floor=$(grep_rate "$work/input")
  printf '%-36s %15s %16s %6.2f\n' "$label" "$ours" "$floor" "$(awk -v a="$ours" -v b="$floor" 'BEGIN { print a / b }')"
done <<'TABLE'
authlog/sshd_classic ssh/auth.log sshd+sudo, classic syslog
authlog/sshd_rfc3339 ssh/auth-hiprec.log sshd+sudo, RFC 3339 (Debian 12)
authlog/sshd_rfc5424 ssh/auth-rfc5424.log sshd+sudo, RFC 5424
authlog/sshd_journald_json ssh/journal.jsonl.gz sshd+sudo, journalctl -o json
pgaudit/pg_stderr pgaudit/postgresql.log pgaudit, stderr (multi-line)
pgaudit/pg_csvlog pgaudit/postgresql.csv pgaudit, csvlog
pgaudit/pg_jsonlog pgaudit/postgresql.json pgaudit, jsonlog
TABLE
