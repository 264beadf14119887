#!/usr/bin/env bash
# How time and memory grow with the data: bench/create.sh at three sizes
# (about 0.1, 1 and 4 GB of data, half dump and half volume, by default),
# each run measuring its own references, then one table of them all.
#
#   bash bench/sizes.sh                     # scales 0.05 0.5 2
#   BENCH_SCALES="0.05 0.5" bash bench/sizes.sh
#
# Each size's full report goes to $BENCH_OUT/create-SCALE.md (default: a
# folder under /var/tmp, printed at the end); the environment of
# bench/create.sh applies to each run.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
SCALES=${BENCH_SCALES:-0.05 0.5 2}
OUTDIR=${BENCH_OUT:-$(mktemp -d "${BENCH_TMP:-/var/tmp}/docker-backup-sizes.XXXXXX")}
mkdir -p "$OUTDIR"
SUMMARY=$OUTDIR/summary.txt
: > "$SUMMARY"

for s in $SCALES; do
  printf 'bench: sizes: scale %s\n' "$s" >&2
  BENCH_SCALE=$s BENCH_SUMMARY=$SUMMARY bash "$here/bench/create.sh" > "$OUTDIR/create-$s.md"
done

# key=value lines -> one markdown table
awk '
function r(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "-" }
BEGIN {
  print "| data (MB): dump + volume | (p) pipeline (s) | (c) create (s) | (c)/(p) | archive / (p) files | (c)/(a) manual | create RSS (MB) | (v) volume only / tar \\| zstd | (a) manual restore (s) | (c) restore (s), without its safety backup | restore/(a) | restore RSS (MB) |"
  print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
}
{
  delete v
  for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
  printf "| %s + %s | %s | %s | %s | %s | %s | %s | %s / %s = %s | %s | %s, %s | %s | %s |\n",
    v["dump"], v["volume"], v["p"], v["c"], r(v["c"], v["p"]), r(v["c_size"], v["p_size"]), r(v["c"], v["a"]), v["c_rss"],
    v["v"], v["p_tar"], r(v["v"], v["p_tar"]), v["ra"], v["rc"], v["rc_net"], r(v["rc"], v["ra"]), v["rc_rss"]
}' "$SUMMARY"
printf '\nbench: sizes: the full reports are in %s\n' "$OUTDIR" >&2
