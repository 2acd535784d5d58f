#!/usr/bin/env bash
# Kubernetes ingest throughput through the real server, in one run:
#
#   1. webhook: `whodid serve` (release) with TLS and a client certificate,
#      the kube-up production policy and redaction on, journal fsync
#      `$FSYNC` (default `batch`: group commit, one fsync at a time; the
#      script prints the longest any record waited for its fsync, which is
#      the "fsync at least every N ms" figure; `FSYNC=interval:100ms` for one
#      fsync per 100 ms tick); the load generator (crates/whodid-server/examples/loadgen.rs)
#      posts EventList batches of 400 real events from the capture (auditIDs
#      unique per batch) over many concurrent connections for SECONDS.
#      Prints events/s sustained, batch latency p50/p99 and the server's
#      peak RSS, and the ratio to the apiserver's default webhook ceiling
#      (10 batches/s x 400 events = 4,000 events/s per apiserver).
#   2. log tailer: a kube-apiserver audit log of the capture's lines
#      repeated to ~SIZE_MB, tailed by `whodid serve` from the start:
#      MB/s read, parsed and journaled, next to `cat FILE > /dev/null`.
#
#   The webhook is measured twice, each on a fresh server: "ceiling", the
#   closed loop (CONNECTIONS connections, each posting its next batch when
#   the last is answered: the most the server takes, with latency mostly
#   queueing behind the other connections), and "apiservers", the open loop
#   the issue's goal describes (APISERVERS connections, each an apiserver at
#   its default throttle of 10 batches/s of 400 = 4,000 events/s, latency
#   counted from when a batch was due).
#
# Usage: bench/ingest.sh [SECONDS=30] [CONNECTIONS=16] [SIZE_MB=512] [APISERVERS=16]
#   environment: FSYNC (journal.fsync), INDEX (index.enabled), WHODID (binary)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
connections=${2:-16}
size_mb=${3:-512}
apiservers=${4:-16}
# Absolute: paths in a configuration file are relative to the file.
out=$PWD/bench/out/ingest

# Removes files of an earlier run or phase, then waits out the filesystem's
# trim of their blocks: ext4 mounted with `discard` (as here) trims freed
# blocks at a journal commit (every 5 s), and every fsync meanwhile waits for
# it, ~0.4 ms per MB deleted (400 MB deleted: one fdatasync of 136-191 ms,
# 2 s after the delete, none after 4 s). The run measures the server, not the
# cleanup of the run before it.
settle() { sync; sleep "${SETTLE:-6}"; }
remove_and_settle() {
  local found=0
  for p in "$@"; do [ -e "$p" ] && found=1 && rm -rf "$p"; done
  if [ "$found" = 1 ]; then settle; fi
}
remove_and_settle "$out"; mkdir -p "$out"

cargo build --release -q -p whodid --bin whodid
cargo build --release -q -p whodid-server --example loadgen
# WHODID=path/to/another/whodid measures that build instead (an A/B of two
# commits on one machine, run alternately).
bin=${WHODID:-target/release/whodid}
loadgen=target/release/examples/loadgen
# A build (or whatever ran before) may have deleted files too.
settle

# Starts `whodid serve --init -c CONFIG` logging to LOG; sets pid and addr once the
# last start line (cluster NAME's endpoint) is written.
start_serve() {
  "$bin" serve --init -c "$1" 2> "$2" &
  pid=$!
  trap 'kill $pid 2>/dev/null || true' EXIT
  for _ in $(seq 100); do grep -q "cluster $3" "$2" && break; sleep 0.1; done
  addr=$(grep -o 'listening on https://[^ ]*' "$2" | sed 's|listening on https://||')
}

# --- 1. webhook -----------------------------------------------------------
"$bin" init --data "$out/data" >/dev/null 2>&1
"$bin" k8s webhook-config --cluster bench --data "$out/data" --out "$out/certs" >/dev/null
cat > "$out/whodid.yaml" <<YAML
data: $out/data
listen: 127.0.0.1:0
metrics: {auth: none}
journal:
  fsync: ${FSYNC:-batch}
index:
  enabled: ${INDEX:-true}
clusters:
  - name: bench
    policy: $PWD/testdata/k8s/policies/01-kube-up-gce-production.yaml
    redact: true
YAML

# webhook LABEL CONNECTIONS RATE: a fresh server (empty data directory, so
# both runs start equal), the load generator for $seconds, the figures.
# RATE 0 is the closed loop (the server's ceiling); RATE > 0 is open loop,
# each connection one apiserver sending RATE batches/s on a schedule.
webhook() {
  # shellcheck disable=SC2046
  remove_and_settle $(find "$out/data" -mindepth 1 -maxdepth 1 ! -name tls ! -name WHODID)
  start_serve "$out/whodid.yaml" "$out/serve-$1.log" bench
  cpu0=$(awk '{ print $14 + $15 }' /proc/$pid/stat)
  # Peak anonymous and file-backed RSS (the index's mmapped files are page
  # cache the kernel can take back; VmHWM counts both).
  ( anon=0; file=0
    while [ -e /proc/$pid/status ]; do
      read -r a f < <(awk '/^RssAnon/ { a = $2 } /^RssFile/ { f = $2 } END { print a + 0, f + 0 }' /proc/$pid/status 2>/dev/null || echo "0 0")
      [ "$a" -gt "$anon" ] && anon=$a; [ "$f" -gt "$file" ] && file=$f
      echo "$anon $file" > "$out/rss.peak"; sleep 0.2
    done ) &
  sampler=$!
  result=$("$loadgen" "$addr" "$out/data/tls/ca.crt" "$out/certs/bench-client.crt" "$out/certs/bench-client.key" bench testdata/k8s/capture-audit.log.gz "$2" "$seconds" 400 "$3")
  cpu1=$(awk '{ print $14 + $15 }' /proc/$pid/stat)
  rss_kb=$(awk '/VmHWM/ { print $2 }' /proc/$pid/status)
  read -r anon_kb file_kb < "$out/rss.peak"
  metrics=$(curl -s --cacert "$out/data/tls/ca.crt" "https://$addr/metrics" || true)
  kill -TERM $pid; wait $pid || true
  kill $sampler 2>/dev/null || true; wait $sampler 2>/dev/null || true
  trap - EXIT
  eps=$(echo "$result" | sed 's/.*events_per_s=\([0-9]*\).*/\1/')
  stored=$(echo "$metrics" | awk '/^whodid_events_accepted_total/ { print $2 }')
  fsyncs=$(echo "$metrics" | awk '/^whodid_journal_fsyncs_total/ { print $2 }')
  fsync_s=$(echo "$metrics" | awk '/^whodid_journal_fsync_seconds_total/ { print $2 }')
  wait_max=$(echo "$metrics" | awk '/^whodid_journal_durable_wait_longest_seconds/ { printf "%.1f", $2 * 1000 }')
  fsync_max=$(echo "$metrics" | awk '/^whodid_journal_fsync_longest_seconds/ { printf "%.1f", $2 * 1000 }')
  dropped=$(echo "$metrics" | awk '/^whodid_events_dropped_by_policy_total/ { print $2 }')
  events=$(echo "$result" | sed 's/.*events=\([0-9]*\).*/\1/')
  cpu_s=$(echo "scale=2; ($cpu1 - $cpu0) / $(getconf CLK_TCK)" | bc)
  echo "webhook $1: $result"
  echo "webhook $1: connections=$2 rate_per_connection=$3 peak_rss_mb=$((rss_kb / 1024)) (anonymous $((anon_kb / 1024)), file-backed $((file_kb / 1024))) stored=$stored dropped_by_policy=$dropped server_cpu_s=$cpu_s events_per_server_cpu_s=$(echo "$events / $cpu_s" | bc)"
  echo "webhook $1: journal fsync=${FSYNC:-batch}: $fsyncs fsyncs ($(echo "scale=1; $fsyncs / $seconds" | bc)/s, mean $(echo "scale=1; $fsync_s * 1000 / $fsyncs" | bc) ms, longest $fsync_max ms); longest a record waited for its fsync: $wait_max ms"
  echo "webhook $1: ratio to one apiserver's default webhook ceiling (4,000 events/s): $(echo "scale=1; $eps / 4000" | bc)x"
}
# The ceiling: CONNECTIONS connections posting back to back.
webhook ceiling "$connections" 0
# APISERVERS apiservers at their default throttle (10 batches/s of 400):
# the latency and memory a fleet of that size sees.
webhook apiservers "$apiservers" 10

# --- 2. log tailer --------------------------------------------------------
[ "$size_mb" -gt 0 ] || { rm -rf "$out"; exit 0; }
log="$out/logs/audit.log"
mkdir -p "$out/logs"
gzip -dc testdata/k8s/capture-audit.log.gz > "$out/one.log"
one=$(stat -c %s "$out/one.log")
reps=$(( size_mb * 1048576 / one + 1 ))
# Each copy gets its own auditIDs (suffix), so nothing is deduplicated.
for r in $(seq "$reps"); do sed "s/\"auditID\":\"\([^\"]*\)\"/\"auditID\":\"\1-$r\"/" "$out/one.log"; done > "$log"
# The webhook runs' data goes, and the new log is written out before the
# clock starts (the tailer then competes with neither for the disk).
rm -rf "$out/data"; settle
bytes=$(stat -c %s "$log"); lines=$(wc -l < "$log")
start=$(date +%s.%N); cat "$log" > /dev/null; end=$(date +%s.%N)
cat_mbs=$(echo "scale=0; $bytes / 1048576 / ($end - $start)" | bc)
cat > "$out/tail.yaml" <<YAML
data: $out/tail-data
listen: 127.0.0.1:0
metrics: {auth: none}
journal:
  fsync: ${FSYNC:-batch}
index:
  enabled: ${INDEX:-true}
clusters:
  - name: tail
    audit_logs: [$log]
YAML
start=$(date +%s.%N)
start_serve "$out/tail.yaml" "$out/tail.log" tail
while :; do
  n=$(curl -s --cacert "$out/tail-data/tls/ca.crt" "https://$addr/metrics" | awk '/^whodid_events_(accepted|invalid)_total/ { s += $2 } END { print s + 0 }')
  [ "$n" -ge "$lines" ] && break
  sleep 0.2
done
end=$(date +%s.%N)
rss_kb=$(awk '/VmHWM/ { print $2 }' /proc/$pid/status)
kill -TERM $pid; wait $pid || true
trap - EXIT
secs=$(echo "$end - $start" | bc)
tail_mbs=$(echo "scale=1; $bytes / 1048576 / $secs" | bc)
echo "tailer: $lines lines, $((bytes / 1048576)) MB in ${secs}s = $tail_mbs MB/s read, parsed and journaled (peak RSS $((rss_kb / 1024)) MB); cat: $cat_mbs MB/s; ratio $(echo "scale=2; $tail_mbs / $cat_mbs" | bc)"
remove_and_settle "$out"
