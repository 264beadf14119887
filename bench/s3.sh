#!/usr/bin/env bash
# Benchmark of backups to S3 (docs/BENCHMARKS.md): on loopback, against
# versitygw (e2e/tools/install-versitygw.sh), each once, in this order:
#
#   (a) docker backup create --to s3://bench/   streamed, no local copy
#   (b) docker backup create -o FILE, then an `aws s3 cp`-style upload of
#       FILE (bench/s3tool cp: size known, 8 MiB parts, 4 at once)
#   (c) a 2 GiB stream through the plugin's S3 backend (bench/s3tool
#       stream), for its peak RSS
#
# (a) and (b) run the plugin standalone under /usr/bin/time for the peak
# RSS. The project is an app container whose volume holds BENCH_SCALE x 1 GiB
# (a quarter random, the rest text), and PostgreSQL with a table of
# BENCH_SCALE x 1.5 million rows.
#
#   bash bench/s3.sh                    # BENCH_SCALE=1
#   BENCH_SCALE=0.25 bash bench/s3.sh
#
# Needs: root or the docker group, docker compose v2, the test images of
# images/build.sh, Go and GNU time (/usr/bin/time).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
scale=${BENCH_SCALE:-1}
work=$(mktemp -d "${BENCH_TMP:-/var/tmp}/docker-backup-s3bench.XXXXXX")
name=s3bench$$
gwpid=
cleanup() {
  [ -n "$gwpid" ] && kill "$gwpid" 2>/dev/null || true
  (cd "$work/project" 2>/dev/null && docker compose -p "$name" down -v --timeout 5 >/dev/null 2>&1) || true
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/docker-backup" ./cmd/docker-backup
go build -o "$work/s3tool" ./bench/s3tool
gw=$(bash e2e/tools/install-versitygw.sh)
port=$((20000 + RANDOM % 20000))
mkdir -p "$work/s3"
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=benchsecret$$
"$gw" --quiet --access "$AWS_ACCESS_KEY_ID" --secret "$AWS_SECRET_ACCESS_KEY" --port "127.0.0.1:$port" posix "$work/s3" >/dev/null 2>&1 &
gwpid=$!
for _ in $(seq 100); do "$work/s3tool" mb bench 2>/dev/null && break; sleep 0.1; done

mkdir -p "$work/project"
cd "$work/project"
printf 'secret\n' > pw.txt
cat > compose.yaml <<YAML
services:
  db:
    image: docker-backup-test/postgres:15
    network_mode: none
    environment: {POSTGRES_USER: app, POSTGRES_DB: appdb, POSTGRES_PASSWORD_FILE: /run/secrets/pw}
    secrets: [pw]
    volumes: [dbdata:/var/lib/postgresql/data]
    healthcheck: {test: ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "app"], interval: 1s, retries: 120}
  app:
    image: docker-backup-test/debian:bookworm
    network_mode: none
    command: ["sleep", "infinity"]
    init: true
    volumes: [appdata:/srv/data]
volumes: {dbdata: {}, appdata: {}}
secrets: {pw: {file: ./pw.txt}}
YAML
docker compose -p "$name" up -d --wait >/dev/null 2>&1
rows=$(awk "BEGIN{printf \"%d\", $scale*1500000}")
mib=$(awk "BEGIN{printf \"%d\", $scale*1024}")
docker compose -p "$name" exec -T db psql -q -U app -d appdb -c "CREATE TABLE big AS SELECT g AS id, md5(g::text) || repeat(md5((g*7)::text), 6) AS v FROM generate_series(1, $rows) g;"
docker compose -p "$name" exec -T app bash -c "head -c $((mib/4))M /dev/urandom > /srv/data/random.bin; for i in \$(seq 1 $((mib*3/4/8))); do base64 -w 120 /dev/urandom | head -c 8M > /srv/data/text\$i.txt; done"

secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }
now() { date +%s.%N; }
rss() { awk '/Maximum resident/{printf "%d", $6/1024}' "$1"; }

t0=$(now)
/usr/bin/time -v "$work/docker-backup" create -q -p "$name" --to s3://bench/direct/ 2> "$work/a.time" || { cat "$work/a.time"; exit 1; }
t1=$(now)
/usr/bin/time -v "$work/docker-backup" create -q -p "$name" -o "$work/local.tar.zst" 2> "$work/b.time" || { cat "$work/b.time"; exit 1; }
t2=$(now)
"$work/s3tool" cp "$work/local.tar.zst" bench
t3=$(now)
size=$(stat -c %s "$work/local.tar.zst")

t4=$(now)
head -c 2G /dev/urandom | /usr/bin/time -v "$work/s3tool" stream bench stream-2g 2> "$work/c.time" >/dev/null || { cat "$work/c.time"; exit 1; }
t5=$(now)

echo "| step | time | peak RSS |"
echo "|---|---|---|"
echo "| (a) \`create --to s3://\` (streamed) | $(secs "$t0" "$t1") s | $(rss "$work/a.time") MB |"
echo "| (b) \`create -o FILE\` | $(secs "$t1" "$t2") s | $(rss "$work/b.time") MB |"
echo "| (b) then \`aws s3 cp\`-style upload of FILE | $(secs "$t2" "$t3") s | |"
echo "| (b) in all | $(secs "$t1" "$t3") s | |"
echo "| (c) 2 GiB of /dev/urandom streamed through the S3 backend | $(secs "$t4" "$t5") s | $(rss "$work/c.time") MB |"
echo
echo "archive: $((size/1048576)) MiB (BENCH_SCALE=$scale); $(nproc) cores; $(git -C "$here" describe --always --dirty)"
