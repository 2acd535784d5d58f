#!/usr/bin/env bash
# Policy decisions per second on the kube-up production policy over the real
# capture (2,947 events), against the kube-apiserver's own Go policy code.
#
# The Go figures are the reference measured on this kind of machine (2 vCPU
# AMD EPYC, Go 1.27.3, single goroutine) and recorded in the fixtures' README
# (`../shared/fixtures/k8s/README.md`, "Oracle speed"): Go is not installed
# here, so the reference cannot be re-run in the same run.
#   evaluation only, attributes prebuilt: 2.10 M events/s
#   JSON decode + attributes + evaluation: 27 k events/s
#
# Usage: bench/policy.sh   (prints a table; criterion's full output in bench/out/)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/out
cargo bench -p whodid-policy --bench decide -- --warm-up-time 2 --measurement-time 5 \
  > bench/out/policy.txt 2>&1

# Criterion prints "thrpt: [low mid high]" with a unit; take the middle value in events/s.
rate() {
  awk -v name="kube-up/$1" '
    index($0, name) == 1 { found = 1 }
    found && /thrpt:/ {
      v = $4; u = $5
      if (u ~ /^Gelem/) v *= 1e9; else if (u ~ /^Melem/) v *= 1e6; else if (u ~ /^Kelem/) v *= 1e3
      printf "%.0f", v; exit
    }' bench/out/policy.txt
}
eval_rate=$(rate evaluate)
head_rate=$(rate json_summary_evaluate)
full_rate=$(rate json_full_evaluate)
go_eval=2100000
go_json=27000
printf '%-44s %14s %14s %8s\n' "benchmark (kube-up policy, real capture)" "whodid ev/s" "Go ref ev/s" "ratio"
printf '%-44s %14s %14s %7.1fx\n' "evaluation only (attributes prebuilt)" "$eval_rate" "$go_eval" "$(echo "$eval_rate / $go_eval" | bc -l)"
printf '%-44s %14s %14s %7.1fx\n' "JSON bytes -> decision (EventHead path)" "$head_rate" "$go_json" "$(echo "$head_rate / $go_json" | bc -l)"
printf '%-44s %14s %14s %7.1fx\n' "full Event decode -> decision" "$full_rate" "$go_json" "$(echo "$full_rate / $go_json" | bc -l)"
