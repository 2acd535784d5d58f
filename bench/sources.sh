#!/usr/bin/env bash
# Parse-and-journal throughput of the SSH and pgaudit sources (issue 6),
# end to end through the real `whodid ingest` (release build), for each
# format, in one run:
#
#   - `grep -c ''` over the same file: the floor of what reading it costs;
#   - whodid ingest: lines/s read, parsed and journaled (batches of 2,048
#     waited for; fsync policy $FSYNC, default batch as ingest's
#     default), records/s;
#   - the journal's own append rate for the same records in the same batches
#     (crates/whodid/examples/journal_rate.rs, which also prints the
#     parse-only rate of the file in memory);
#   - ingest records/s as a share of that append rate (goal: >= 50%).
#
# Inputs: the real fixtures of testdata/ repeated to SIZE_MB.
# Usage: [FSYNC=batch|interval:100ms|never] bench/sources.sh [SIZE_MB=32]
#        (table on stdout; raw figures in bench/out/sources/)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-32}
export FSYNC=${FSYNC:-batch}
out=bench/out/sources
rm -rf "$out"; mkdir -p "$out"

cargo build --release -q -p whodid --bin whodid --example journal_rate
bin=target/release/whodid
rate=target/release/examples/journal_rate
prefix='%m [%p] %q%u@%d '

repeated() {
  local src=$1 dst=$2 once="$out/once" size copies
  case "$src" in
    *.gz) gzip -dc "testdata/$src" > "$once" ;;
    *) cp "testdata/$src" "$once" ;;
  esac
  size=$(stat -c %s "$once")
  copies=$(( (size_mb * 1048576 + size - 1) / size ))
  : > "$dst"
  for _ in $(seq "$copies"); do cat "$once" >> "$dst"; done
  rm -f "$once"
}

ns() { date +%s%N; }

# Best of 3 `grep -c ''`, lines/s.
grep_rate() {
  local file=$1 lines best=0 start ns_taken
  lines=$(grep -c '' "$file")
  for _ in 1 2 3; do
    start=$(ns); grep -c '' "$file" > /dev/null; ns_taken=$(( $(ns) - start ))
    if [ "$best" -eq 0 ] || [ "$ns_taken" -lt "$best" ]; then best=$ns_taken; fi
  done
  awk -v l="$lines" -v ns="$best" 'BEGIN { printf "%.0f", l / (ns / 1e9) }'
}

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<< "$2"; }

printf 'fsync %s, %d MiB per format, %s\n\n' "$FSYNC" "$size_mb" "$(uptime | sed 's/.*load/load/')"
printf '| format | lines | `grep -c` lines/s | parse only lines/s | ingest lines/s | ingest records/s | journal append records/s | ingest / append |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|\n'
while IFS='|' read -r name fixture kind args; do
  file="$out/$name.log"
  repeated "$fixture" "$file"
  lines=$(grep -c '' "$file")
  floor=$(grep_rate "$file")
  data="$out/data-$name"
  start=$(ns)
  # shellcheck disable=SC2086
  summary=$("$bin" ingest --init --data "$data" --fsync "$FSYNC" $args "$file")
  taken=$(( $(ns) - start ))
  stored=$(sed -n 's/.*: \([0-9]*\) records stored.*/\1/p' <<< "$summary")
  echo "$name: $summary" >> "$out/ingest.txt"
  if [ "$kind" = authlog ]; then
    figures=$("$rate" authlog "$file" "$out/journal-$name")
  else
    figures=$("$rate" "$kind" "$file" "$out/journal-$name" "$prefix")
  fi
  echo "$name: $figures" >> "$out/journal_rate.txt"
  awk -v name="$name" -v lines="$lines" -v floor="$floor" -v ns="$taken" -v stored="$stored" \
      -v parse="$(field parse_lines_per_s "$figures")" -v append="$(field append_records_per_s "$figures")" '
    BEGIN {
      s = ns / 1e9
      printf "| %s | %d | %d | %d | %d | %d | %d | %.0f%% |\n", name, lines, floor, parse, lines / s, stored / s, append, 100 * (stored / s) / append
    }'
  rm -rf "$file" "$data" "$out/journal-$name"
done <<LIST
sshd+sudo, classic syslog|ssh/auth.log|authlog|--stream authlog
sshd+sudo, RFC 3339|ssh/auth-hiprec.log|authlog|--stream authlog
sshd+sudo, RFC 5424|ssh/auth-rfc5424.log|authlog|--stream authlog
sshd+sudo, journalctl -o json|ssh/journal.jsonl.gz|authlog|--stream authlog
pgaudit, stderr|pgaudit/postgresql.log|stderr|--stream pgaudit --pg-format stderr
pgaudit, csvlog|pgaudit/postgresql.csv|csvlog|--stream pgaudit --pg-format csvlog
pgaudit, jsonlog|pgaudit/postgresql.json|jsonlog|--stream pgaudit --pg-format jsonlog
LIST
