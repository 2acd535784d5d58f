#!/usr/bin/env bash
# Search: whodid's index against rg and jq over the same events as NDJSON.
#
# Builds EVENTS (default 10,000,000) Kubernetes audit events shaped like the
# real capture (its events as templates; 200 people, 40 service accounts,
# 60 namespaces; times spread over 30 days ending now), appends them through
# the journal API and writes the same events as NDJSON; indexes them with
# `whodid reindex`; then measures in the same run:
#   - p50/p99 of a person's timeline (first page of 100), of a three-term
#     query over the last 24 h, of the top 10 users over 7 days (SearchService,
#     the code behind `whodid search|who` and the HTTP API; warm);
#   - the same questions answered by rg and by jq over the NDJSON (the way
#     people do it today; rg 3 runs, median; jq 1 run);
#   - journal + index bytes on disk against the NDJSON's.
#
# Usage: bench/search.sh [EVENTS] [RUNS]     (scratch data under bench/out/search, removed at the end
#                                            unless KEEP=1; REUSE=1 keeps a generated data set)
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-10000000}
runs=${2:-200}
out=bench/out/search
if [ "${REUSE:-0}" != 1 ]; then rm -rf "$out"; fi
mkdir -p "$out"
for tool in rg jq; do
  command -v "$tool" >/dev/null || { echo "bench/search.sh: $tool is missing (apt-get install -y ripgrep jq)" >&2; exit 1; }
done

# One invocation, so both share one feature resolution (and one build of tantivy).
cargo build --release -q -p whodid -p whodid-query --bins --example search_bench
bin=target/release
data="$out/data"
ndjson="$out/events.ndjson"

t0=$(date +%s.%N)
if [ "${REUSE:-0}" = 1 ] && [ -s "$ndjson" ]; then
  echo "reusing $data and $ndjson (REUSE=1)"
else
  "$bin/examples/search_bench" generate "$data" "$ndjson" "$events" 30
fi
t1=$(date +%s.%N)
"$bin/whodid" reindex --data "$data" --threads 2 --memory-mib 256 | tee "$out/reindex.txt"
t2=$(date +%s.%N)
gen_s=$(echo "$t1 - $t0" | bc -l)
index_s=$(echo "$t2 - $t1" | bc -l)

"$bin/examples/search_bench" measure "$data" "$runs" | tee "$out/measure.txt"

# The same questions the way people ask them today.
person=user011@example.com
day_ago=$(date -u -d '24 hours ago' +%Y-%m-%dT%H:%M:%S)
week_ago=$(date -u -d '7 days ago' +%Y-%m-%dT%H:%M:%S)
median3() { sort -n | sed -n 2p; }
seconds() { # runs a function, prints how long it took
  local s e
  s=$(date +%s.%N); "$@" > /dev/null; e=$(date +%s.%N)
  echo "$e - $s" | bc -l
}
# rg cannot compare times: the days of the range as a pattern (8 calendar days for "7 days").
week_days=$(for d in 7 6 5 4 3 2 1 0; do date -u -d "$d days ago" +%Y-%m-%d; done | paste -sd'|')
rg_timeline() { rg -F "\"username\":\"$person\"" "$ndjson" | tail -n 100; }
rg_three() {
  rg -F "\"username\":\"$person\"" "$ndjson" | rg -F '"verb":"get"' | rg -F '"resource":"configmaps"' |
    awk -v t="$day_ago" -F'"stageTimestamp":"' '$2 >= t'
}
rg_top() {
  rg "\"stageTimestamp\":\"($week_days)" "$ndjson" | rg -o '"user":\{"username":"[^"]*"' |
    sort | uniq -c | sort -rn | head -n 10
}
jq_timeline() { jq -c --arg p "$person" 'select(.user.username == $p)' "$ndjson" | tail -n 100; }
jq_three() {
  jq -c --arg p "$person" --arg t "$day_ago" \
    'select(.user.username == $p and .verb == "get" and .objectRef.resource == "configmaps" and .stageTimestamp >= $t)' "$ndjson"
}
jq_top() {
  jq -r --arg t "$week_ago" 'select(.stageTimestamp >= $t) | .user.username' "$ndjson" | sort | uniq -c | sort -rn | head -n 10
}
# Warm the page cache once, as the index is warm.
cat "$ndjson" > /dev/null
declare -A peer
for name in timeline three top; do
  peer[rg_$name]=$(for i in 1 2 3; do seconds "rg_$name"; done | median3)
  peer[jq_$name]=$(seconds "jq_$name")
done

ndjson_bytes=$(stat -c %s "$ndjson")
journal_bytes=$(du -sb "$data/journal" | cut -f1)
index_bytes=$(du -sb "$data/index" | cut -f1)
ratio=$(echo "($journal_bytes + $index_bytes) / $ndjson_bytes" | bc -l)

val() { awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$out/measure.txt"; }
row() { # name, measure key, rg key, jq key
  local p50 p99 rg jq
  p50=$(val "$2" 2); p99=$(val "$2" 3)
  rg=$(echo "${peer[$3]} * 1000" | bc -l); jq=$(echo "${peer[$4]} * 1000" | bc -l)
  printf "| %s | %.2f | %.2f | %.0f | %.0f | %.0f× | %.0f× |\n" "$1" "$p50" "$p99" "$rg" "$jq" \
    "$(echo "$rg / $p50" | bc -l)" "$(echo "$jq / $p50" | bc -l)"
}
echo
gen_text="${gen_s%.*} s"
if [ "${REUSE:-0}" = 1 ]; then gen_text="reused (REUSE=1)"; fi
echo "events: $events over 30 days; generate+journal $gen_text; reindex ${index_s%.*} s ($(cat "$out/reindex.txt"))"
echo
echo "| question | whodid p50 ms | whodid p99 ms | rg ms | jq ms | vs rg | vs jq |"
echo "|---|---:|---:|---:|---:|---:|---:|"
row "timeline of one person, first page of 100" timeline_first_page_100 rg_timeline jq_timeline
row "three-term query, last 24 h" three_terms_24h rg_three jq_three
row "top 10 users, last 7 days" top10_users_7d rg_top jq_top
echo
printf "timeline with exact total count: p50 %.2f ms, p99 %.2f ms\n" "$(val timeline_first_page_100_with_total 2)" "$(val timeline_first_page_100_with_total 3)"
printf "on disk: NDJSON %d bytes; journal %d + index %d = %.3f× the NDJSON\n" "$ndjson_bytes" "$journal_bytes" "$index_bytes" "$ratio"
if [ "${KEEP:-0}" != 1 ]; then rm -rf "$out"; fi
