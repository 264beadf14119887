#!/usr/bin/env bash
# Benchmark of `docker backup export` and `import` against pg_dump and
# pg_restore of the same data (make bench).
#
# Brings up a compose project of its own (PostgreSQL 15 and MariaDB 10.11),
# fills PostgreSQL with customers and orders (text, numerics, timestamps,
# jsonb, a foreign key and indexes), then times, once each and in this order:
#
#   (a) pg_dump -Fc -Z0 of the database into a file on the host, through
#       docker compose exec (the format create stores)
#   (b) pg_restore of that file into a new database, through docker
#       compose exec
#   (c) docker backup export db -d appdb -o FILE.sqlite, the binary run
#       standalone under /usr/bin/time -v (its peak RSS)
#   (d) docker backup import FILE.sqlite db -d imported, the same way
#   (e) docker backup import FILE.sqlite maria -d imported: the same data
#       into the other engine
#
# and checks, untimed, that (b), (d) and (e) hold as many rows as the source.
#
#   bash bench/export.sh                  # about 1 GB of database
#   BENCH_SCALE=0.05 bash bench/export.sh # quick trial
#
# Environment: BENCH_SCALE (default 1), BENCH_TMP (default /var/tmp),
# BENCH_WAIT (regex of processes awaited before each timed step; default the
# e2e suite), BENCH_KEEP=1 (keep the project and files).
#
# Needs: root or the docker group, docker compose v2, the test images of
# images/build.sh, Go and GNU time (/usr/bin/time).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

SCALE=${BENCH_SCALE:-1}
WAIT_PATTERN=${BENCH_WAIT-'go test.*e2e|e2e\.test'}
PG_IMAGE=docker-backup-test/postgres:15
MARIA_IMAGE=docker-backup-test/mariadb:10.11

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
calc() { awk "BEGIN { $1 }"; }

awk -v s="$SCALE" 'BEGIN { exit !(s > 0 && s <= 10) }' || die "BENCH_SCALE must be a number in (0, 10], got $SCALE"
for tool in docker go awk; do command -v "$tool" >/dev/null || die "$tool is missing"; done
if [ ! -x /usr/bin/time ]; then
  apt-get install -y -q time >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q time >/dev/null; } ||
    die "cannot install /usr/bin/time: apt-get install time"
fi
docker compose version >/dev/null 2>&1 || die "docker compose v2 is missing: bash e2e/tools/install-compose.sh"
for img in "$PG_IMAGE" "$MARIA_IMAGE"; do
  docker image inspect "$img" >/dev/null 2>&1 || die "image $img is missing: bash images/build.sh"
done

CUSTOMERS=$(calc "c = int($SCALE * 200000); if (c < 1000) c = 1000; printf \"%d\", c")
ORDERS=$(calc "o = int($SCALE * 3000000); if (o < 10000) o = 10000; printf \"%d\", o")

TMP=$(mktemp -d "${BENCH_TMP:-/var/tmp}/docker-backup-bench-export.XXXXXX")
NAME=dbbenchx$(date +%s)$$
PROJ=$TMP/project
mkdir -p "$PROJ"
dc() { docker compose -p "$NAME" -f "$PROJ/compose.yaml" --project-directory "$PROJ" "$@"; }
cleanup() {
  local rc=$?
  if [ "${BENCH_KEEP:-}" = 1 ]; then log "kept project $NAME and $TMP"; return; fi
  dc down -v --remove-orphans --timeout 5 >/dev/null 2>&1 || true
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_quiet() {
  [ -n "$WAIT_PATTERN" ] || return 0
  while pgrep -f "$WAIT_PATTERN" >/dev/null; do sleep 10; done
}

log "building the binary"
go build -o "$TMP/docker-backup" ./cmd/docker-backup
BIN=$TMP/docker-backup
REVISION=${BENCH_REVISION:-$(git -C "$here" describe --always --dirty 2>/dev/null || echo unknown)}

cat > "$PROJ/compose.yaml" <<YAML
services:
  db:
    image: $PG_IMAGE
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
  maria:
    image: $MARIA_IMAGE
    network_mode: none
    environment:
      MYSQL_ROOT_PASSWORD_FILE: /run/secrets/db_password
    secrets: [db_password]
    volumes: [mariadata:/var/lib/mysql]
    healthcheck:
      test: ["CMD", "healthcheck.sh"]
      interval: 1s
      retries: 120
volumes:
  dbdata:
  mariadata:
secrets:
  db_password:
    file: ./db_password.txt
YAML
printf '%s\n' "bench p@ss'word" > "$PROJ/db_password.txt"
log "starting project $NAME"
wait_quiet
dc up -d --wait >/dev/null 2>"$TMP/up.log" || { cat "$TMP/up.log" >&2; die "compose up failed"; }

psql_db() { dc exec -T db psql -X -q -A -t -v ON_ERROR_STOP=1 -U app -d "$1"; }
log "generating $CUSTOMERS customers and $ORDERS orders"
psql_db appdb >/dev/null <<SQL
SET synchronous_commit = off;
CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, email text NOT NULL UNIQUE, country char(2) NOT NULL,
  created_at timestamptz NOT NULL, balance numeric(12,2) NOT NULL, preferences jsonb NOT NULL);
INSERT INTO customers SELECT i, 'Customer ' || md5(i::text), 'c' || i || '@example.test', (ARRAY['DE','FR','US','GB'])[1 + i % 4],
  timestamptz '2018-01-01' + (i % 100000) * interval '17 minutes', round((random() * 5000)::numeric, 2),
  jsonb_build_object('newsletter', i % 3 = 0, 'language', (ARRAY['en','de','fr'])[1 + i % 3])
FROM generate_series(1, $CUSTOMERS) i;
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers, created_at timestamptz NOT NULL,
  status text NOT NULL, total numeric(12,2) NOT NULL, note text, items jsonb NOT NULL);
INSERT INTO orders (customer_id, created_at, status, total, note, items)
SELECT 1 + (g::bigint * 7919) % $CUSTOMERS, timestamptz '2019-01-01' + g * interval '13 seconds', (ARRAY['new','paid','shipped','delivered'])[1 + g % 4],
  round((random() * 2000)::numeric, 2), CASE WHEN g % 3 = 0 THEN 'Please leave it at the door, order ' || g END,
  jsonb_build_array(jsonb_build_object('sku', upper(substr(md5(g::text), 1, 10)), 'qty', 1 + g % 4, 'price', round((random() * 200)::numeric, 2)))
FROM generate_series(1, $ORDERS) g;
CREATE INDEX orders_customer ON orders (customer_id);
CREATE INDEX orders_created ON orders (created_at);
ANALYZE;
SQL
DB_BYTES=$(psql_db appdb <<<"SELECT pg_database_size('appdb')")
ROWS=$(psql_db appdb <<<"SELECT (SELECT count(*) FROM customers) + (SELECT count(*) FROM orders)")

declare -A T
timed() { # name cmd... : wall seconds into T[name]
  local name=$1; shift
  wait_quiet
  local s e
  s=$(date +%s.%N)
  "$@"
  e=$(date +%s.%N)
  T[$name]=$(calc "printf \"%.1f\", $e - $s")
  log "$name: ${T[$name]} s"
}
maxrss_kb() { awk -F': ' '/Maximum resident set size/ { print $2 }' "$1"; }

step_a() { dc exec -T db pg_dump -U app -Fc -Z0 -d appdb > "$TMP/appdb.pgdump"; }
step_b() {
  psql_db postgres <<<"CREATE DATABASE restored" >/dev/null
  dc exec -T db pg_restore -U app --exit-on-error -d restored < "$TMP/appdb.pgdump"
}
step_c() { (cd "$PROJ" && DOCKER_HOST=unix:///var/run/docker.sock /usr/bin/time -v -o "$TMP/time-export.txt" "$BIN" export -p "$NAME" db -d appdb -o "$TMP/appdb.sqlite" -q); }
step_d() { (cd "$PROJ" && DOCKER_HOST=unix:///var/run/docker.sock /usr/bin/time -v -o "$TMP/time-import.txt" "$BIN" import -p "$NAME" "$TMP/appdb.sqlite" db -d imported -q); }
step_e() { (cd "$PROJ" && DOCKER_HOST=unix:///var/run/docker.sock /usr/bin/time -v -o "$TMP/time-import-maria.txt" "$BIN" import -p "$NAME" "$TMP/appdb.sqlite" maria -d imported -q); }

timed a step_a
timed b step_b
timed c step_c
timed d step_d
timed e step_e

count_pg() { psql_db "$1" <<<"SELECT (SELECT count(*) FROM customers) + (SELECT count(*) FROM orders)"; }
count_maria() {
  dc exec -T maria sh -c 'MYSQL_PWD="$(cat /run/secrets/db_password)" mariadb -uroot --batch --skip-column-names' \
    <<<"SELECT (SELECT COUNT(*) FROM imported.customers) + (SELECT COUNT(*) FROM imported.orders)"
}
for what in "restored:$(count_pg restored)" "imported:$(count_pg imported)" "maria:$(count_maria)"; do
  [ "${what#*:}" = "$ROWS" ] || die "${what%%:*} holds ${what#*:} rows, not $ROWS"
done

mb() { calc "printf \"%.0f\", $1 / 1000000"; }
DUMP_BYTES=$(stat -c %s "$TMP/appdb.pgdump")
SQLITE_BYTES=$(stat -c %s "$TMP/appdb.sqlite")
cat <<EOF

## Export and import, $(date -u +%Y-%m-%d), $REVISION (BENCH_SCALE=$SCALE)

Database: $(mb "$DB_BYTES") MB on disk (pg_database_size), $ROWS rows in two tables with a foreign key and three indexes.

| step | wall (s) | ratio | peak RSS of docker-backup (MB) | file (MB) |
| --- | ---: | ---: | ---: | ---: |
| (a) pg_dump -Fc -Z0 | ${T[a]} | 1.00 | | $(mb "$DUMP_BYTES") |
| (c) docker backup export | ${T[c]} | $(calc "printf \"%.2f\", ${T[c]} / ${T[a]}") × (a) | $(calc "printf \"%.0f\", $(maxrss_kb "$TMP/time-export.txt") / 1000") | $(mb "$SQLITE_BYTES") |
| (b) pg_restore into a new database | ${T[b]} | 1.00 | | |
| (d) docker backup import into PostgreSQL | ${T[d]} | $(calc "printf \"%.2f\", ${T[d]} / ${T[b]}") × (b) | $(calc "printf \"%.0f\", $(maxrss_kb "$TMP/time-import.txt") / 1000") | |
| (e) docker backup import into MariaDB | ${T[e]} | $(calc "printf \"%.2f\", ${T[e]} / ${T[b]}") × (b) | $(calc "printf \"%.0f\", $(maxrss_kb "$TMP/time-import-maria.txt") / 1000") | |

Machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -r); engine $(docker version --format '{{.Server.Version}}').
EOF
