#!/usr/bin/env bash
# Journal throughput on ~1.4 KB records from the real kube-apiserver capture,
# against this disk's own limits measured in the same run, and the journal's
# size against `zstd -3` of the same records.
#
#   - criterion: records/s with fsync at most every 100 ms (one producer,
#     pipelined batches of 256) and with fsync every batch (8 writers, each
#     waiting for every batch of 32 to be durable);
#   - dd: sequential write bandwidth with O_DIRECT, and the fsync rate
#     (4 KiB writes with O_DSYNC);
#   - zstd -3 of the same records vs the journal's segment bytes, appended in
#     group commits of 32 records, as written and after compaction.
#
# Usage: bench/journal.sh   (writes scratch files under bench/out/, removes them)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/out
out=bench/out

cargo bench -p whodid-journal --bench append > "$out/journal.txt" 2>&1
rate() {
  awk -v name="journal/$1" '
    index($0, name) == 1 { found = 1 }
    found && /thrpt:/ {
      v = $4; u = $5
      if (u ~ /^Melem/) v *= 1e6; else if (u ~ /^Kelem/) v *= 1e3
      printf "%.0f", v; exit
    }' "$out/journal.txt"
}
record_bytes=$(awk '/bench input:/ { print $3; exit }' "$out/journal.txt")
pipelined=$(rate fsync_100ms_pipelined)
every_batch=$(rate fsync_every_batch_8_writers)

# The disk: sequential write bandwidth (O_DIRECT) and fsync rate (O_DSYNC).
dd_seq=$(dd if=/dev/zero of="$out/dd.seq" bs=1M count=512 oflag=direct conv=fsync 2>&1 | awk '/copied/ { print $(NF-1), $NF }')
dd_sync=$(dd if=/dev/zero of="$out/dd.sync" bs=4k count=2000 oflag=dsync 2>&1 | awk '/copied/ { print $(NF-3) }')
rm -f "$out/dd.seq" "$out/dd.sync"
seq_mb=$(echo "$dd_seq" | awk '{ v = $1; if ($2 ~ /^GB/) v *= 1000; print v }')
fsync_rate=$(echo "2000 / $dd_sync" | bc -l)

# Size: the same records through the journal vs zstd -3.
cargo run --quiet --release -p whodid-journal --example journal_size -- "$out" 40 32 > "$out/size.txt"
segment_bytes=$(awk '$1 == "segment_bytes" { print $2 }' "$out/size.txt")
group_commit_bytes=$(awk '$1 == "segment_bytes_group_commit" { print $2 }' "$out/size.txt")
record_total=$(awk '/record_bytes/ { print $2 }' "$out/size.txt")
zstd -q -3 -f "$out/records.bin" -o "$out/records.bin.zst"
zstd_bytes=$(stat -c %s "$out/records.bin.zst")
rm -rf "$out/records.bin" "$out/records.bin.zst" "$out/journal-data"

mbps() { echo "$1 * $record_bytes / 1000000" | bc -l; }
printf 'record size: %s bytes (envelope + raw)\n' "$record_bytes"
printf '%-48s %12s %10s\n' "case" "records/s" "MB/s"
printf '%-48s %12.0f %10.1f\n' "journal, fsync <= every 100 ms (pipelined)" "$pipelined" "$(mbps "$pipelined")"
printf '%-48s %12.0f %10.1f\n' "journal, fsync every batch, 8 writers" "$every_batch" "$(mbps "$every_batch")"
printf '%-48s %12s %10.1f\n' "disk: dd sequential write, O_DIRECT" "-" "$seq_mb"
printf '%-48s %12.0f %10s\n' "disk: dd 4 KiB O_DSYNC writes (fsyncs/s)" "$fsync_rate" "-"
printf 'journal input rate vs disk sequential bandwidth: %.0f%%\n' "$(echo "100 * $(mbps "$pipelined") / $seq_mb" | bc -l)"
printf 'size: records %s bytes, zstd -3 %s bytes\n' "$record_total" "$zstd_bytes"
printf '  journal, frames as group commit wrote them (32 records): %s bytes (journal/zstd = %.3f)\n' \
  "$group_commit_bytes" "$(echo "$group_commit_bytes / $zstd_bytes" | bc -l)"
printf '  journal, sealed segments compacted:                      %s bytes (journal/zstd = %.3f)\n' \
  "$segment_bytes" "$(echo "$segment_bytes / $zstd_bytes" | bc -l)"
