#!/usr/bin/env bash
# Benchmark of the stops and starts of a restore: a project whose five app
# services each take 10 s to stop (their process ignores SIGTERM, as many
# real app images' do, and is killed after the grace period), behind a
# PostgreSQL service, against the same project whose apps stop at once.
# The difference is what the stops cost: compose stops one level of the
# dependency graph at once, so about one grace period, not five.
#
#   bash bench/stops.sh
#
# Environment:
#   BENCH_GRACE   each app's stop grace period in seconds (default 10)
#   BENCH_TMP     parent folder for the work folder (default /var/tmp)
#   BENCH_WAIT    regex of processes (pgrep -f) to wait for before each
#                 timed step (default: the e2e suite); empty: no wait
#
# Needs: root or the docker group, docker compose v2, the test images of
# images/build.sh, Go.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

GRACE=${BENCH_GRACE:-10}
WAIT_PATTERN=${BENCH_WAIT-'go test.*e2e|e2e\.test'}
PG_IMAGE=docker-backup-test/postgres:15
DEBIAN_IMAGE=docker-backup-test/debian:bookworm

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for img in "$PG_IMAGE" "$DEBIAN_IMAGE"; do
  docker image inspect "$img" >/dev/null 2>&1 || die "image $img is missing: bash images/build.sh"
done
docker compose version >/dev/null 2>&1 || die "docker compose v2 is missing: bash e2e/tools/install-compose.sh"

TMP=$(mktemp -d "${BENCH_TMP:-/var/tmp}/docker-backup-stops.XXXXXX")
export DOCKER_CONFIG=$TMP
mkdir -p "$TMP/cli-plugins"
projects=()
cleanup() {
  local rc=$?
  for p in "${projects[@]}"; do
    docker compose -p "$p" --project-directory "$TMP/$p" down -v --remove-orphans --timeout 1 >/dev/null 2>&1 || true
  done
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_quiet() {
  [ -n "$WAIT_PATTERN" ] || return 0
  while pgrep -f "$WAIT_PATTERN" >/dev/null; do sleep 10; done
}

log "building the plugin"
go build -o "$TMP/cli-plugins/docker-backup" ./cmd/docker-backup
REVISION=$(git -C "$here" describe --always --dirty 2>/dev/null || echo unknown)

# project NAME SLOW: PostgreSQL and five apps; with SLOW the apps run sleep
# as PID 1 without init, which ignores SIGTERM: each stop waits out GRACE.
project() {
  local name=$1 slow=$2 dir=$TMP/$1 init=true
  [ "$slow" = 1 ] && init=false
  mkdir -p "$dir"
  {
    cat <<YAML
services:
  db:
    image: $PG_IMAGE
    network_mode: none
    environment:
      POSTGRES_USER: app
      POSTGRES_DB: appdb
      POSTGRES_PASSWORD: bench
    volumes:
      - dbdata:/var/lib/postgresql/data
    healthcheck:
      test: ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "app", "-d", "appdb"]
      interval: 1s
      timeout: 3s
      retries: 120
YAML
    for i in 1 2 3 4 5; do
      cat <<YAML
  app$i:
    image: $DEBIAN_IMAGE
    network_mode: none
    command: ["sleep", "infinity"]
    init: $init
    stop_grace_period: ${GRACE}s
    depends_on:
      db:
        condition: service_healthy
    volumes:
      - data$i:/srv/data
YAML
    done
    printf 'volumes:\n  dbdata:\n'
    for i in 1 2 3 4 5; do printf '  data%s:\n' "$i"; done
  } > "$dir/compose.yaml"
  projects+=("$name")
  docker compose -p "$name" --project-directory "$dir" up -d --wait >/dev/null 2>"$TMP/up.log" || { cat "$TMP/up.log" >&2; die "compose up failed"; }
  docker compose -p "$name" --project-directory "$dir" exec -T db psql -q -U app -d appdb \
    -c "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 200000) g" >/dev/null
  for i in 1 2 3 4 5; do
    docker compose -p "$name" --project-directory "$dir" exec -T "app$i" sh -c 'head -c 20000000 /dev/urandom > /srv/data/blob' >/dev/null
  done
  (cd "$dir" && docker backup create -p "$name" -q -o "$dir/backup.tar.zst")
}

# restore NAME: the restore's wall time, in seconds.
restore() {
  local dir=$TMP/$1 start end
  wait_quiet
  start=$(date +%s.%N)
  (cd "$dir" && docker backup restore -p "$1" -y -q --no-safety-backup "$dir/backup.tar.zst" >/dev/null)
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }'
}

suffix=$(date +%s)
log "project with apps that stop at once"
project "dbstopsfast$suffix" 0
log "project with apps that ignore SIGTERM (grace period ${GRACE} s)"
project "dbstopsslow$suffix" 1
fast=$(restore "dbstopsfast$suffix")
slow=$(restore "dbstopsslow$suffix")
extra=$(awk -v f="$fast" -v s="$slow" 'BEGIN { printf "%.1f", s - f }')

cat <<EOF

### Stops and starts (bash bench/stops.sh), $(date -u +%Y-%m-%d), $REVISION

PostgreSQL (200,000 rows) and five app services with a 20 MB volume each;
\`docker backup restore -y --no-safety-backup\`, wall time:

| project | restore |
|---|---|
| apps stop at once (init) | $fast s |
| apps ignore SIGTERM, ${GRACE} s grace period each | $slow s |
| what the stops cost | $extra s (one after the other: about $((5 * GRACE)) s) |

Machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(docker version --format 'Docker {{.Server.Version}}').
EOF
