#!/usr/bin/env bash
# The scheduled image's footprint (docs/BENCHMARKS.md): its size, and the
# daemon's resident memory while it waits for the next run, read from
# /proc/PID/status (VmRSS, and its anonymous and file-backed parts):
#
#   (a) idle after start, before any run
#   (b) idle between runs, after RUNS backups of a small PostgreSQL project
#       to a local folder, read halfway between two runs
#
#   bash bench/daemon.sh                 # RUNS=5
#
# Needs: root (to read the container's /proc), docker compose v2, the test
# images of images/build.sh, make and Go.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
runs=${RUNS:-5}
work=$(mktemp -d "${BENCH_TMP:-/var/tmp}/docker-backup-daemonbench.XXXXXX")
name=daemonbench$$
image=docker-backup-test/docker-backup:bench
cleanup() {
  (cd "$work" 2>/dev/null && docker compose -p "$name" down -v --timeout 5 >/dev/null 2>&1) || true
  rm -rf "$work"
}
trap cleanup EXIT

make -s image IMAGE=docker-backup-test/docker-backup VERSION=bench IMAGE_ARCHES="$(go env GOARCH)" >/dev/null
mkdir -p "$work/backups"
chmod 0777 "$work/backups"
echo 'bench-password' >"$work/db_password.txt"
cat >"$work/compose.yaml" <<YAML
services:
  db:
    image: docker-backup-test/postgres:15
    network_mode: none
    environment:
      POSTGRES_USER: app
      POSTGRES_DB: appdb
      POSTGRES_PASSWORD_FILE: /run/secrets/db_password
    secrets: [db_password]
    volumes: [dbdata:/var/lib/postgresql/data]
    healthcheck:
      test: ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "app", "-d", "appdb"]
      interval: 1s
      retries: 120
  backup:
    image: $image
    network_mode: none
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock
      - $work/backups:/backups
    environment:
      BACKUP_CRON: "*/20 * * * * *"
      BACKUP_TO: /backups
      BACKUP_KEEP_LAST: "2"
volumes:
  dbdata:
secrets:
  db_password:
    file: ./db_password.txt
YAML
cd "$work"
docker compose -p "$name" up -d --wait db >/dev/null 2>&1
docker compose -p "$name" exec -T db psql -q -U app -d appdb -c \
  "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 200000) g" >/dev/null
docker compose -p "$name" up -d backup >/dev/null 2>&1

rss() { # -> "VmRSS anon file" in MB
  local pid
  pid=$(docker inspect -f '{{.State.Pid}}' "$name-backup-1")
  awk '/^VmRSS/{r=$2} /^RssAnon/{a=$2} /^RssFile/{f=$2} END{printf "%.1f MB (anonymous %.1f, file-backed %.1f)", r/1024, a/1024, f/1024}' "/proc/$pid/status"
}
sleep 3
idle=$(rss)
# Halfway between two runs (every 20 s: at :10, :30, :50), after $runs.
until [ "$(grep -c 'backup done' < <(docker compose -p "$name" logs backup 2>/dev/null))" -ge "$runs" ]; do sleep 1; done
now=$(date +%s)
sleep $(( (30 - now % 20) % 20 ))
between=$(rss)
done_runs=$(docker compose -p "$name" logs backup 2>/dev/null | grep -c 'backup done')
size=$(docker image inspect -f '{{.Size}}' "$image")

echo "| measure | value |"
echo "|---|---|"
echo "| image size | $(awk -v s="$size" 'BEGIN{printf "%.1f MB", s/1e6}') |"
echo "| daemon RSS, idle after start | $idle |"
echo "| daemon RSS, idle between runs (after $done_runs backups) | $between |"
