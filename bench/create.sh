#!/usr/bin/env bash
# Benchmark of `docker backup create` against the manual procedure it replaces.
#
# Brings up a compose project of its own (PostgreSQL 15 + an app container
# with a named volume, the shape of e2e/fixtures_test.go), fills it with data
# that looks like production data, then times, once each and in this order:
#
#   (b)  the raw reads alone: pg_dumpall into /dev/null, then a plain tar of
#        the volume into /dev/null
#   (a)  the manual procedure: pg_dumpall | gzip > dump.sql.gz, then the
#        volume as tar.bz2, one after the other
#   (p)  the shell pipeline a skilled administrator writes, with the
#        plugin's compressor at its level: pg_dumpall | zstd -T0 -3, then
#        tar -C VOLUME -cf - . | zstd -T0 -3 (the volume's folder on the
#        host), one after the other
#   (c)  docker backup create -p NAME -o FILE, through the docker CLI
#   (c') the same binary run standalone under /usr/bin/time -v, for the
#        plugin's own peak RSS
#   (v)  a volume-only backup: docker backup create -p NAME app (the app
#        service: its volume, no database), against (p)'s tar | zstd
#   (b2) the raw reads again, to show how warm the page cache was
#
# then, on the same data and files, restore, once each and in this order:
#
#   (b)  the raw loads alone: the plain SQL of (a)'s dump (gunzip -c, made
#        untimed) into psql on an empty server, then the plain tar of (a)'s
#        files (bzip2 -dc, made untimed) into the emptied volume
#   (a)  the manual procedure, as its steps go: docker compose stop app,
#        gunzip < dump.sql.gz | psql into an empty server, tar -xjf
#        files.tar.bz2 into the emptied volume's folder, docker compose
#        start app
#   (c)  docker backup restore -p NAME -y --json of (c)'s archive, through the
#        docker CLI; its safety backup is timed by the plugin and reported
#        apart (from the JSON summary)
#
# The app ignores SIGTERM, as many real app images do: stopping it takes
# its 10 s grace period, in (a) as in (c).
#
# "Empty server": app stopped, the databases other than postgres and the
# templates dropped; the role stays (the dump's CREATE ROLE app fails
# harmlessly, psql runs without ON_ERROR_STOP). "Emptied volume": everything
# under /srv/data deleted. Emptying is timed apart and not counted in (a)
# and (b) (the plugin does it inside (c)), and after each load the row
# counts and the files are checked, untimed, against the generated ones.
#
# It prints markdown tables, the ratios against the targets and the machine.
#
#   bash bench/create.sh                 # full scale: >= 1 GiB database, ~1.1 GiB volume
#   BENCH_SCALE=0.05 bash bench/create.sh  # quick trial
#
# Environment:
#   BENCH_SCALE    data size factor (default 1)
#   BENCH_TMP      parent folder for the work folder (default /var/tmp); needs
#                  about 4 x the data size free
#   BENCH_KEEP=1   keep the work folder and the project (no down -v)
#   BENCH_REVISION what to call the build in the report (default: git describe)
#   BENCH_DROP_CACHES=1  sync and drop the kernel's page cache before each
#                  timed step (root on a host or VM, not inside a container;
#                  it slows everything else on the machine). Default: caches
#                  stay warm, the data having just been written
#   BENCH_WAIT     regex of processes (pgrep -f) whose end is awaited before
#                  each timed step, so that no test suite shares the machine
#                  with a measurement (default: the e2e suite); empty: no wait
#   BENCH_SUMMARY  a file to which one line of key=value figures is added
#                  (bench/sizes.sh reads it)
#
# Needs: root or the docker group, docker compose v2, the test images of
# images/build.sh, Go, bzip2, gzip, zstd and GNU time (/usr/bin/time).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

SCALE=${BENCH_SCALE:-1}
WAIT_PATTERN=${BENCH_WAIT-'go test.*e2e|e2e\.test'}
PG_IMAGE=docker-backup-test/postgres:15
DEBIAN_IMAGE=docker-backup-test/debian:bookworm

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

awk -v s="$SCALE" 'BEGIN { exit !(s > 0 && s <= 10) }' || die "BENCH_SCALE must be a number in (0, 10], got $SCALE"
calc() { awk "BEGIN { $1 }"; } # calc 'printf "%d", 3*2'

for tool in docker go gzip bzip2 zstd tar awk; do
  command -v "$tool" >/dev/null || die "$tool is missing"
done
if [ ! -x /usr/bin/time ]; then
  log "/usr/bin/time is missing: installing Debian's time package"
  apt-get install -y -q time >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q time >/dev/null; } ||
    die "cannot install /usr/bin/time: apt-get install time"
fi
docker compose version >/dev/null 2>&1 || die "docker compose v2 is missing: bash e2e/tools/install-compose.sh"
for img in "$PG_IMAGE" "$DEBIAN_IMAGE"; do
  docker image inspect "$img" >/dev/null 2>&1 || die "image $img is missing: bash images/build.sh"
done

# ---------------------------------------------------------------- sizes ---
# Database: rows are added in batches until pg_database_size reaches
# DB_TARGET (indexes come on top). Volume: TEXT_FILES small text files of
# TEXT_BYTES in all, plus BLOBS files of /dev/urandom, BLOB_BYTES in all.
DB_TARGET=$(calc "printf \"%d\", $SCALE * 1073741824")
DB_BATCH=$(calc "b = int($SCALE * 250000); if (b < 5000) b = 5000; printf \"%d\", b")
CUSTOMERS=$(calc "c = int($SCALE * 100000); if (c < 1000) c = 1000; printf \"%d\", c")
TEXT_FILES=$(calc "printf \"%d\", $SCALE * 60000 + 0.5")
TEXT_BYTES=$(calc "printf \"%d\", $SCALE * 480 * 1048576")
BLOBS=$(calc "n = int($SCALE * 20 + 0.5); if (n < 1) n = 1; printf \"%d\", n")
BLOB_BYTES=$(calc "printf \"%d\", $SCALE * 640 * 1048576")

# ------------------------------------------------------------ work area ---
TMP=$(mktemp -d "${BENCH_TMP:-/var/tmp}/docker-backup-bench.XXXXXX")
NAME=dbbench$(date +%s)$$
PROJ=$TMP/project
OUT=$TMP/out
mkdir -p "$PROJ" "$OUT" "$TMP/cli-plugins"
# The docker CLI finds the plugin under $DOCKER_CONFIG/cli-plugins; compose
# stays found in the system plugin folders.
export DOCKER_CONFIG=$TMP

dc() { docker compose -p "$NAME" -f "$PROJ/compose.yaml" --project-directory "$PROJ" "$@"; }

cleanup() {
  local rc=$?
  if [ "${BENCH_KEEP:-}" = 1 ]; then
    log "kept project $NAME and $TMP (BENCH_KEEP=1)"
    return
  fi
  log "removing project $NAME and $TMP"
  dc down -v --remove-orphans --timeout 5 >/dev/null 2>&1 || true
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_quiet() { # waits until no process matching BENCH_WAIT runs
  [ -n "$WAIT_PATTERN" ] || return 0
  local said=
  while pgrep -f "$WAIT_PATTERN" >/dev/null; do
    [ -n "$said" ] || { log "waiting for other heavy jobs to end ($WAIT_PATTERN)"; said=1; }
    sleep 10
  done
}

# ---------------------------------------------------------------- build ---
log "building the plugin into $TMP/cli-plugins"
go build -o "$TMP/cli-plugins/docker-backup" ./cmd/docker-backup
PLUGIN=$TMP/cli-plugins/docker-backup
# What was measured: the working tree, as built.
REVISION=${BENCH_REVISION:-$(git -C "$here" describe --always --dirty 2>/dev/null || echo unknown)}
docker backup version >/dev/null || die "the docker CLI does not find the plugin"

# -------------------------------------------------------------- project ---
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
    volumes:
      - dbdata:/var/lib/postgresql/data
    healthcheck:
      test: ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "app", "-d", "appdb"]
      interval: 1s
      timeout: 3s
      retries: 120
  app:
    image: $DEBIAN_IMAGE
    network_mode: none
    # Ignores SIGTERM: killed after its grace period, as many apps are.
    command: ["sh", "-c", "trap '' TERM; while :; do sleep 1; done"]
    init: true
    depends_on:
      db:
        condition: service_healthy
    volumes:
      - appdata:/srv/data
volumes:
  dbdata:
  appdata:
secrets:
  db_password:
    file: ./db_password.txt
YAML
printf '%s\n' "bench p@ss'word\"\$1" > "$PROJ/db_password.txt"
log "starting project $NAME in $PROJ"
wait_quiet
dc up -d --wait --quiet-pull >/dev/null 2>"$TMP/up.log" || { cat "$TMP/up.log" >&2; die "compose up failed"; }

# ----------------------------------------------------------------- data ---
# PostgreSQL: customers and orders with names and words made of syllables
# (a Zipf-like vocabulary of a few thousand words, so text compresses like
# text), e-mail addresses, random timestamps over five years, numerics, and a
# jsonb document per order; md5 hex only where real data has hashes.
gen_db() {
  local sql
  sql=$(cat <<SQL
\set ON_ERROR_STOP 1
ALTER SYSTEM SET max_wal_size = '4GB';
SELECT pg_reload_conf();
SET synchronous_commit = off;
CREATE FUNCTION word() RETURNS text LANGUAGE sql VOLATILE PARALLEL SAFE AS \$\$
  SELECT (ARRAY['ka','lo','mi','ter','son','ra','ven','del','is','an','or','ut','pre','con','ment','ing','al','ex','de','ro','sta','ble','tion','mar','quo','li','ne','pa','gri','vo'])[1 + floor(30 * random() ^ 2)::int]
      || (ARRAY['ka','lo','mi','ter','son','ra','ven','del','is','an','or','ut','pre','con','ment','ing','al','ex','de','ro','sta','ble','tion','mar','quo','li','ne','pa','gri','vo'])[1 + floor(30 * random())::int]
      || CASE WHEN random() < 0.4 THEN (ARRAY['s','ed','er','ly','a','o','um','en','ist','ar'])[1 + floor(10 * random())::int] ELSE '' END
\$\$;
CREATE FUNCTION sentence(n int) RETURNS text LANGUAGE sql VOLATILE PARALLEL SAFE AS \$\$
  SELECT initcap(string_agg(word(), ' ')) || '.' FROM generate_series(1, n)
\$\$;
CREATE TABLE customers (
  id          bigint PRIMARY KEY,
  name        text NOT NULL,
  email       text NOT NULL,
  country     char(2) NOT NULL,
  city        text NOT NULL,
  created_at  timestamptz NOT NULL,
  balance     numeric(12,2) NOT NULL,
  api_key     text NOT NULL,
  preferences jsonb NOT NULL
);
INSERT INTO customers
SELECT i,
       initcap(word()) || ' ' || initcap(word() || word()),
       word() || '.' || word() || i || '@' || (ARRAY['example.com','mail.test','corp.example','shop.test'])[1 + floor(4 * random())::int],
       (ARRAY['DE','FR','US','GB','NL','ES','IT','PL','SE','JP'])[1 + floor(10 * random() ^ 2)::int],
       initcap(word() || word()),
       timestamptz '2018-01-01' + random() * interval '6 years',
       round((random() * 5000 - 500)::numeric, 2),
       md5(random()::text),
       jsonb_build_object('newsletter', random() < 0.3, 'language', (ARRAY['en','de','fr','es'])[1 + floor(4 * random())::int],
                          'theme', (ARRAY['light','dark','auto'])[1 + floor(3 * random())::int], 'tags', jsonb_build_array(word(), word()))
FROM generate_series(1, $CUSTOMERS) AS i;
CREATE TABLE orders (
  id          bigserial,
  customer_id bigint NOT NULL,
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz,
  status      text NOT NULL,
  total       numeric(12,2) NOT NULL,
  currency    char(3) NOT NULL,
  shipping    text NOT NULL,
  note        text,
  items       jsonb NOT NULL
);
SQL
)
  local batch
  batch=$(cat <<SQL
INSERT INTO orders (customer_id, created_at, updated_at, status, total, currency, shipping, note, items)
SELECT c, t, CASE WHEN random() < 0.7 THEN t + random() * interval '20 days' END,
       (ARRAY['new','paid','shipped','delivered','delivered','delivered','cancelled','refunded'])[1 + floor(8 * random())::int],
       round((random() ^ 3 * 2000 + 1)::numeric, 2),
       (ARRAY['EUR','EUR','USD','GBP'])[1 + floor(4 * random())::int],
       floor(random() * 300 + 1)::int || ' ' || initcap(word()) || ' ' || (ARRAY['Street','Road','Avenue','Lane','Way'])[1 + floor(5 * random())::int]
         || E'\n' || lpad(floor(random() * 99999)::int::text, 5, '0') || ' ' || initcap(word() || word()),
       CASE WHEN random() < 0.6 THEN sentence(4 + floor(random() * 30)::int) END,
       jsonb_build_object(
         'lines', jsonb_build_array(
           jsonb_build_object('sku', upper(substr(md5(random()::text), 1, 10)), 'name', initcap(word() || ' ' || word()), 'qty', 1 + floor(random() * 4)::int, 'price', round((random() * 200)::numeric, 2)),
           jsonb_build_object('sku', upper(substr(md5(random()::text), 1, 10)), 'name', initcap(word() || ' ' || word()), 'qty', 1 + floor(random() * 4)::int, 'price', round((random() * 200)::numeric, 2))),
         'channel', (ARRAY['web','app','phone','store'])[1 + floor(4 * random())::int],
         'coupon', CASE WHEN random() < 0.15 THEN upper(word()) || floor(random() * 50)::int END,
         'ip', floor(random() * 223 + 1)::int || '.' || floor(random() * 256)::int || '.' || floor(random() * 256)::int || '.' || floor(random() * 256)::int,
         'user_agent', (ARRAY['Mozilla/5.0 (X11; Linux x86_64)','Mozilla/5.0 (Windows NT 10.0; Win64; x64)','Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)','okhttp/4.12.0'])[1 + floor(4 * random())::int])
FROM (SELECT 1 + floor(random() * $CUSTOMERS)::bigint AS c, timestamptz '2019-01-01' + random() * interval '5 years' AS t
      FROM generate_series(1, $DB_BATCH)) AS g;
SQL
)
  psql_db() { dc exec -T db psql -X -q -v ON_ERROR_STOP=1 -U app -d appdb "$@"; }
  psql_db >/dev/null <<<"$sql"
  local size n=0
  while :; do
    size=$(psql_db -A -t -c "SELECT pg_database_size('appdb')")
    log "database: $size bytes"
    [ "$size" -lt "$DB_TARGET" ] || break
    n=$((n + 1))
    psql_db -c "SET synchronous_commit = off" -c "$batch" >/dev/null
  done
  # A container's /dev/shm is 64 MB: parallel index builds need more.
  psql_db >/dev/null <<'SQL'
SET max_parallel_maintenance_workers = 0;
SET maintenance_work_mem = '256MB';
ALTER TABLE orders ADD PRIMARY KEY (id);
CREATE INDEX orders_customer_id ON orders (customer_id);
CREATE INDEX orders_created_at ON orders (created_at);
ALTER TABLE orders ADD FOREIGN KEY (customer_id) REFERENCES customers (id);
VACUUM ANALYZE;
CHECKPOINT;
SQL
  log "database: $n batches of $DB_BATCH orders"
}

# Volume: TEXT_FILES text files under /srv/data/docs (logs, CSV, markdown,
# JSON; exponentially distributed sizes, so most are small) made by awk from
# the same kind of vocabulary, and BLOBS files of /dev/urandom under
# /srv/data/media (stand-ins for photos, PDFs, archives: incompressible).
gen_volume() {
  dc exec -T -e TEXT_FILES="$TEXT_FILES" -e TEXT_BYTES="$TEXT_BYTES" -e BLOBS="$BLOBS" -e BLOB_BYTES="$BLOB_BYTES" app bash -s <<'SH'
set -euo pipefail
cd /srv/data
mkdir -p docs media
for i in $(seq 0 99); do mkdir -p "docs/$(printf %02d $((i / 10)))/$(printf %02d $i)"; done
mawk -v files="$TEXT_FILES" -v total="$TEXT_BYTES" '
function w(  s) {
  s = syl[1 + int(nsyl * rand() * rand())] syl[1 + int(nsyl * rand())]
  if (rand() < 0.4) s = s suf[1 + int(nsuf * rand())]
  return s
}
function line(kind, i,   s, n, k) {
  if (kind == 0) {          # log
    s = sprintf("2024-%02d-%02dT%02d:%02d:%02d.%03dZ %s [%s] ", 1 + int(12 * rand()), 1 + int(28 * rand()), int(24 * rand()), int(60 * rand()), int(60 * rand()), int(1000 * rand()), lvl[1 + int(5 * rand() * rand())], w())
    n = 4 + int(12 * rand())
    for (k = 0; k < n; k++) s = s " " w()
    if (rand() < 0.3) s = s sprintf(" id=%d took=%.1fms", int(1e6 * rand()), 500 * rand() * rand())
  } else if (kind == 1) {   # csv
    s = sprintf("%d,%s %s,%s@%s.test,%.2f,%d,%s", i, w(), w(), w(), w(), 1000 * rand(), int(100 * rand()), w())
  } else if (kind == 2) {   # markdown
    if (rand() < 0.1) s = "## " w() " " w()
    else { n = 6 + int(20 * rand()); s = w(); for (k = 1; k < n; k++) s = s " " w(); s = s "." }
  } else {                  # json lines
    s = sprintf("{\"id\": %d, \"user\": \"%s\", \"action\": \"%s\", \"value\": %.3f, \"ok\": %s, \"text\": \"%s %s %s\"}", int(1e7 * rand()), w(), w(), 100 * rand(), rand() < 0.9 ? "true" : "false", w(), w(), w())
  }
  return s
}
BEGIN {
  srand(20240601)
  nsyl = split("ka lo mi ter son ra ven del is an or ut pre con ment ing al ex de ro sta ble tion mar quo li ne pa gri vo bel dor fu hen", syl, " ")
  nsuf = split("s ed er ly a o um en ist ar", suf, " ")
  split("INFO DEBUG WARN ERROR TRACE", lvl, " ")
  split("log csv md json", ext, " ")
  mean = total / files
  for (i = 1; i <= files; i++) {
    kind = int(4 * rand())
    size = -log(1 - rand()) * mean
    d = int(100 * rand())
    f = sprintf("docs/%02d/%02d/%s-%06d.%s", int(d / 10), d, w(), i, ext[kind + 1])
    if (kind == 1) { out = "id,name,email,amount,qty,tag"; printf "%s\n", out > f; n = length(out) + 1 }
    else n = 0
    while (n < size) { out = line(kind, i); printf "%s\n", out > f; n += length(out) + 1 }
    close(f)
  }
}'
each=$((BLOB_BYTES / BLOBS / 1048576))
for i in $(seq 1 "$BLOBS"); do
  head -c "${each}M" /dev/urandom > "media/upload-$(printf %03d "$i").bin"
done
SH
}

log "generating data at scale $SCALE: database >= $DB_TARGET bytes; volume $TEXT_FILES text files ($TEXT_BYTES bytes) + $BLOBS random files ($BLOB_BYTES bytes)"
wait_quiet
gen_start=$(date +%s.%N)
gen_db > "$TMP/gen-db.log" 2>&1 &
db_pid=$!
gen_volume > "$TMP/gen-volume.log" 2>&1 &
vol_pid=$!
wait "$db_pid" || { cat "$TMP/gen-db.log" >&2; die "database generation failed"; }
wait "$vol_pid" || { cat "$TMP/gen-volume.log" >&2; die "volume generation failed"; }
gen_end=$(date +%s.%N)
cat "$TMP/gen-db.log" >&2
sync

DB_SIZE=$(dc exec -T db psql -X -A -t -U app -d appdb -c "SELECT pg_database_size('appdb')")
DB_ROWS=$(dc exec -T db psql -X -A -t -U app -d appdb -c "SELECT (SELECT count(*) FROM orders) || ' orders, ' || (SELECT count(*) FROM customers) || ' customers'")
DB_TABLES=$(dc exec -T db psql -X -A -t -U app -d appdb -c "SELECT pg_size_pretty(pg_table_size('orders')) || ' orders table (TOAST included) + ' || pg_size_pretty(pg_indexes_size('orders')) || ' of its indexes'")
read -r VOL_BYTES VOL_FILES < <(dc exec -T app bash -c 'echo "$(du -sb /srv/data | cut -f1) $(find /srv/data -type f | wc -l)"')
VOL_TEXT=$(dc exec -T app du -sb /srv/data/docs | cut -f1)
log "generated in $(calc "printf \"%.0f\", $gen_end - $gen_start") s: database $DB_SIZE bytes ($DB_ROWS); volume $VOL_BYTES bytes in $VOL_FILES files"

# ------------------------------------------------------------- measures ---
declare -A T # wall seconds of each step

CACHES=warm
if [ "${BENCH_DROP_CACHES:-}" = 1 ]; then
  [ -w /proc/sys/vm/drop_caches ] || die "BENCH_DROP_CACHES=1: /proc/sys/vm/drop_caches is not writable here"
  CACHES="dropped before each step"
fi
drop_caches() { [ "${BENCH_DROP_CACHES:-}" != 1 ] || { sync; echo 3 > /proc/sys/vm/drop_caches; }; }

timed() { # KEY CMD...: runs CMD, records its wall time in T[KEY]
  local key=$1 s e rc=0
  shift
  wait_quiet
  drop_caches
  s=$(date +%s.%N)
  "$@" || rc=$?
  e=$(date +%s.%N)
  T[$key]=$(calc "printf \"%.2f\", $e - $s")
  log "$key: ${T[$key]} s"
  return "$rc"
}

# The volume as a plain tar on stdout, by tar inside the app container. Not
# through a helper `docker run --rm -v VOLUME:/data:ro ... tar -cf - -C /data .`:
# with the default json-file log driver the engine also writes everything
# the helper prints into its JSON log, which made that read 4.6 times slower
# here (500 MB: 19.1 s, against 4.2 s with --log-driver none and 2.4 s by exec).
tar_volume() { dc exec -T app tar -cf - -C /srv/data .; }
raw_dump() { dc exec -T db pg_dumpall -U app > /dev/null; }
raw_tar() { tar_volume > /dev/null; }
manual_dump() { dc exec -T db pg_dumpall -U app | gzip > "$OUT/dump.sql.gz"; }
# tar -cj runs bzip2 as a child process; the image has no bzip2, so the
# same bzip2 runs on the host, on the tar stream: what tar -cjf would do.
manual_tar() { tar_volume | bzip2 > "$OUT/files.tar.bz2"; }
VOL_DIR=$(docker volume inspect -f '{{.Mountpoint}}' "${NAME}_appdata")
[ -d "$VOL_DIR" ] || die "the volume's folder $VOL_DIR is not on this host: run the benchmark on the engine's host"
pipe_dump() { dc exec -T db pg_dumpall -U app | zstd -q -T0 -3 > "$OUT/dump.sql.zst"; }
pipe_tar() { tar -C "$VOL_DIR" -cf - . | zstd -q -T0 -3 > "$OUT/files.tar.zst"; }
plugin_volume_only() { # (v): the app service alone: its volume, no dump
  (cd "$PROJ" && docker backup create -p "$NAME" -o "$OUT/volume-only.tar.zst" app) 2>"$TMP/v.log"
}

plugin_cli() { # (c): like a user, through the docker CLI
  (cd "$PROJ" && /usr/bin/time -v -o "$TMP/time-cli.txt" docker backup create -p "$NAME" -o "$OUT/backup.tar.zst") 2>"$TMP/c.log"
}
poll_hwm() { # VmHWM (kB) of the plugin process started by the docker CLI, until it ends
  local pid= hwm=0 v
  until pid=$(pgrep -f "^$PLUGIN backup create" | head -n1); do
    [ ! -e "$TMP/c.done" ] || { echo 0; return; }
    sleep 0.05
  done
  while v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) && [ -n "$v" ]; do
    hwm=$v
    sleep 0.1
  done
  echo "$hwm"
}
plugin_standalone() { # (c'): the binary alone: /usr/bin/time -v sees the plugin only
  (cd "$PROJ" && DOCKER_HOST=unix:///var/run/docker.sock /usr/bin/time -v -o "$TMP/time-standalone.txt" \
    "$PLUGIN" create -p "$NAME" -o "$OUT/standalone.tar.zst") 2>"$TMP/c2.log"
}
maxrss_kb() { awk -F': ' '/Maximum resident set size/ { print $2 }' "$1"; }

log "timing (b) raw reads"
timed b_dump raw_dump
timed b_tar raw_tar
log "timing (a) manual procedure"
timed a_dump manual_dump
timed a_tar manual_tar
log "timing (p) shell pipeline"
timed p_dump pipe_dump
timed p_tar pipe_tar
log "timing (c) docker backup create"
wait_quiet
poll_hwm > "$TMP/hwm.txt" &
poll_pid=$!
timed c plugin_cli || { touch "$TMP/c.done"; cat "$TMP/c.log" >&2; die "docker backup create failed"; }
touch "$TMP/c.done"
wait "$poll_pid" || true
log "timing (c') the plugin binary standalone"
timed c2 plugin_standalone || { cat "$TMP/c2.log" >&2; die "standalone docker-backup create failed"; }
log "timing (v) a volume-only backup"
timed v plugin_volume_only || { cat "$TMP/v.log" >&2; die "docker backup create app failed"; }
log "timing (b) raw reads again"
timed b2_dump raw_dump
timed b2_tar raw_tar

# ---------------------------------------------------------------- check ---
zstd -dc "$OUT/backup.tar.zst" | tar -tvf - > "$TMP/listing.txt" || die "the archive does not read back"
# tar -tv: mode owner size date time name
ARCHIVE_FILES=$(awk '$1 ~ /^-/ && $6 ~ /^volumes\/appdata\// { n++ } END { print n + 0 }' "$TMP/listing.txt")
ARCHIVE_DUMPS=$(awk '$6 ~ /^databases\// { s += $3 } END { print s + 0 }' "$TMP/listing.txt")
DUMPALL_BYTES=$(gzip -l "$OUT/dump.sql.gz" | awk 'NR == 2 { print $2 }')

# --------------------------------------------------------------- report ---
size() { stat -c %s "$1"; }
A_DUMP=$(size "$OUT/dump.sql.gz")
A_TAR=$(size "$OUT/files.tar.bz2")
A_SIZE=$((A_DUMP + A_TAR))
C_SIZE=$(size "$OUT/backup.tar.zst")
C2_SIZE=$(size "$OUT/standalone.tar.zst")
P_DUMP=$(size "$OUT/dump.sql.zst")
P_TAR=$(size "$OUT/files.tar.zst")
P_SIZE=$((P_DUMP + P_TAR))
V_SIZE=$(size "$OUT/volume-only.tar.zst")
P=$(calc "printf \"%.2f\", ${T[p_dump]} + ${T[p_tar]}")
A=$(calc "printf \"%.2f\", ${T[a_dump]} + ${T[a_tar]}")
B=$(calc "printf \"%.2f\", ${T[b_dump]} + ${T[b_tar]}")
B2=$(calc "printf \"%.2f\", ${T[b2_dump]} + ${T[b2_tar]}")
C=${T[c]}
RSS_CLI=$(maxrss_kb "$TMP/time-cli.txt")
RSS_STANDALONE=$(maxrss_kb "$TMP/time-standalone.txt")
RSS_HWM=$(cat "$TMP/hwm.txt")
mb() { calc "printf \"%.1f\", $1 / 1e6"; }   # bytes -> MB
mbk() { calc "printf \"%.1f\", $1 * 1024 / 1e6"; } # kB (KiB) -> MB
mib() { calc "printf \"%.1f\", $1 / 1024"; }     # kB (KiB) -> MiB
verdict() { calc "print (($1) ? \"met\" : \"MISSED\")"; }

cat <<EOF

## Machine

- CPU: $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
- memory: $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
- Docker Engine $(docker version -f '{{.Server.Version}}') (API $(docker version -f '{{.Server.APIVersion}}')), storage driver $(docker info -f '{{.Driver}}'), $(docker compose version --short | sed 's/^/compose /')
- kernel $(uname -r), $(go version | cut -d' ' -f3)
- plugin built from $REVISION

## Data (scale $SCALE)

- PostgreSQL 15 database appdb: pg_database_size $DB_SIZE bytes ($(mb "$DB_SIZE") MB); $DB_ROWS; $DB_TABLES
- volume appdata (/srv/data): $VOL_BYTES bytes ($(mb "$VOL_BYTES") MB) in $VOL_FILES files: $TEXT_FILES text files ($(mb "$VOL_TEXT") MB) and $BLOBS files from /dev/urandom ($(mb "$BLOB_BYTES") MB)
- generated in $(calc "printf \"%.0f\", $gen_end - $gen_start") s
- pg_dumpall's plain SQL: $(mb "$DUMPALL_BYTES") MB; the plugin's dumps (pg_dump custom format, --compress=0, and globals): $(mb "$ARCHIVE_DUMPS") MB; the archive holds $ARCHIVE_FILES files of the volume

## Results (one run each, in the order b, a, p, c, c', v, b again; page cache $CACHES)

| step | what | wall time (s) | output (MB) |
|---|---|---:|---:|
| (b) | pg_dumpall > /dev/null | ${T[b_dump]} | |
| (b) | tar of the volume (exec in app) > /dev/null | ${T[b_tar]} | |
| **(b)** | **raw reads, total** | **$B** | |
| (a) | pg_dumpall \| gzip > dump.sql.gz | ${T[a_dump]} | $(mb "$A_DUMP") |
| (a) | tar of the volume (exec in app) \| bzip2 > files.tar.bz2 | ${T[a_tar]} | $(mb "$A_TAR") |
| **(a)** | **manual procedure, total** | **$A** | **$(mb "$A_SIZE")** |
| (p) | pg_dumpall \| zstd -T0 -3 > dump.sql.zst | ${T[p_dump]} | $(mb "$P_DUMP") |
| (p) | tar -C VOLUME -cf - . \| zstd -T0 -3 > files.tar.zst (on the host) | ${T[p_tar]} | $(mb "$P_TAR") |
| **(p)** | **shell pipeline, total** | **$P** | **$(mb "$P_SIZE")** |
| **(c)** | **docker backup create (zstd), via the docker CLI** | **$C** | **$(mb "$C_SIZE")** |
| (c') | docker-backup create, standalone binary | ${T[c2]} | $(mb "$C2_SIZE") |
| (v) | docker backup create app: the volume only, via the docker CLI | ${T[v]} | $(mb "$V_SIZE") |
| (b2) | raw reads again (dump ${T[b2_dump]} s + tar ${T[b2_tar]} s) | $B2 | |

Peak RSS (GNU time's "Maximum resident set size"):

- (c') plugin binary alone under /usr/bin/time -v: $(mbk "$RSS_STANDALONE") MB = $(mib "$RSS_STANDALONE") MiB
- (c) plugin process under the docker CLI, VmHWM polled from /proc every 0.1 s: $(mbk "$RSS_HWM") MB = $(mib "$RSS_HWM") MiB
- (c) /usr/bin/time -v docker backup create: $(mbk "$RSS_CLI") MB = $(mib "$RSS_CLI") MiB (the largest of the docker CLI and the plugin it waits for)

## Targets

| target | measured | |
|---|---|---|
| (c) wall <= 1.0 x (p) | $C s = $(calc "printf \"%.3f\", $C / $P") x (p) | $(verdict "$C <= $P") |
| (c) archive <= 1.0 x (p) files | $(mb "$C_SIZE") MB = $(calc "printf \"%.3f\", $C_SIZE / $P_SIZE") x (p) | $(verdict "$C_SIZE <= $P_SIZE") |
| (c) wall <= 0.15 x (a) | $C s = $(calc "printf \"%.3f\", $C / $A") x (a) | $(verdict "$C <= 0.15 * $A") |
| (v) wall <= 1.0 x (p)'s tar \| zstd | ${T[v]} s = $(calc "printf \"%.3f\", ${T[v]} / ${T[p_tar]}") x | $(verdict "${T[v]} <= ${T[p_tar]}") |
| plugin peak RSS <= 64 MB (10^6 bytes) | $(mbk "$RSS_STANDALONE") MB standalone, $(mbk "$RSS_HWM") MB under the CLI | $(verdict "$RSS_STANDALONE * 1024 <= 64e6 && $RSS_HWM * 1024 <= 64e6") |

What the plugin printed in (c):

\`\`\`
$(cat "$TMP/c.log")
\`\`\`
EOF

# -------------------------------------------------------------- restore ---
# The same data, restored three ways: (b) the raw loads, (a) the manual
# procedure, (c) docker backup restore of (c)'s archive. Each load of (a)
# and (b) starts from an empty server or an emptied volume, timed apart and
# not counted in their totals; each load is checked afterwards, untimed,
# against what was generated: a timed load that failed would be worthless.
# After the create report, so that a failure here does not lose it.
DB_STATE_SQL="SELECT (SELECT count(*) FROM orders) || ' orders, ' || (SELECT count(*) FROM customers) || ' customers, '
  || (SELECT count(*) FROM pg_indexes WHERE schemaname = 'public') || ' indexes, '
  || (SELECT count(*) FROM pg_constraint WHERE contype = 'f') || ' foreign keys'"
db_state() { dc exec -T db psql -X -A -t -v ON_ERROR_STOP=1 -U app -d appdb -c "$DB_STATE_SQL" 2>&1 || true; }
vol_state() { # files and their bytes under /srv/data
  dc exec -T app sh -c 'find /srv/data -type f -printf "%s\n" | awk "{ n++; s += \$1 } END { printf \"%.0f files, %.0f bytes\n\", n, s }"' 2>&1 || true
}
ORIG_DB_STATE=$(db_state)
ORIG_VOL_STATE=$(vol_state)
log "restore: the original state is $ORIG_DB_STATE; $ORIG_VOL_STATE"
case "$ORIG_DB_STATE" in *' orders, '*' foreign keys') ;; *) die "cannot read the database's state: $ORIG_DB_STATE" ;; esac
case "$ORIG_VOL_STATE" in *' files, '*' bytes') ;; *) die "cannot read the volume's state: $ORIG_VOL_STATE" ;; esac

check_db() { # STEP: the database holds what was generated
  local now
  now=$(db_state)
  [ "$now" = "$ORIG_DB_STATE" ] || die "restore $1: the database holds $now, not $ORIG_DB_STATE"
  log "restore $1: database checked: $now"
}
check_vol() { # STEP: the volume holds what was generated
  local now
  now=$(vol_state)
  [ "$now" = "$ORIG_VOL_STATE" ] || die "restore $1: the volume holds $now, not $ORIG_VOL_STATE"
  log "restore $1: volume checked: $now"
}
# The services as the archive was made: all running.
up_all() { dc up -d --wait --quiet-pull >/dev/null 2>"$TMP/up.log" || { cat "$TMP/up.log" >&2; die "compose up failed"; }; }
empty_server() { # app stopped, every database but postgres and the templates dropped
  local db
  dc stop app >/dev/null 2>&1 || die "cannot stop app"
  for db in $(dc exec -T db psql -X -A -t -v ON_ERROR_STOP=1 -U app -d postgres \
    -c "SELECT quote_ident(datname) FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres'"); do
    dc exec -T db psql -X -q -v ON_ERROR_STOP=1 -U app -d postgres -c "DROP DATABASE $db WITH (FORCE)" >/dev/null ||
      die "cannot drop database $db"
  done
  [ "$(dc exec -T db psql -X -A -t -U app -d postgres -c "SELECT count(*) FROM pg_database WHERE NOT datistemplate")" = 1 ] ||
    die "the server still has databases besides postgres"
}
empty_volume() { # app running, /srv/data empty (the mount point stays)
  up_all
  dc exec -T app sh -c 'find /srv/data -mindepth 1 -delete' || die "cannot empty /srv/data"
  [ -z "$(dc exec -T app find /srv/data -mindepth 1 -print -quit)" ] || die "/srv/data is not empty"
}
# psql as a user would load pg_dumpall's output: without ON_ERROR_STOP, so
# the dump's CREATE ROLE app fails ("already exists": the role stays when
# the databases are dropped) and the load goes on. Its stdout (the results
# of the dump's SELECT set_config) goes to /dev/null, its errors to a log.
psql_load() { dc exec -T db psql -X -q -U app -d postgres > /dev/null 2>>"$TMP/psql-$1.log"; }
check_psql_log() { # STEP: psql reported no errors but "already exists"
  local bad
  bad=$(grep 'ERROR:' "$TMP/psql-$1.log" | grep -v 'already exists' | head -n5 || true)
  [ -z "$bad" ] || die "restore $1: psql reported errors: $bad"
}
raw_load_sql() { psql_load b < "$OUT/dump.sql"; }
raw_load_tar() { dc exec -T app tar -xf - -C /srv/data < "$OUT/files.tar"; }
manual_load_sql() { gunzip < "$OUT/dump.sql.gz" | psql_load a; }
manual_load_tar() { tar -xjf "$OUT/files.tar.bz2" -C "$VOL_DIR"; }
manual_stop() { dc stop app >/dev/null 2>&1; }
manual_start() { dc start app >/dev/null 2>&1; }
empty_vol_dir() { find "$VOL_DIR" -mindepth 1 -delete && [ -z "$(find "$VOL_DIR" -mindepth 1 -print -quit)" ]; }
stamp() { # prefixes each line with the seconds since it started
  local t0=${EPOCHREALTIME/[.,]/} now line
  while IFS= read -r line; do
    if [ -n "$t0" ]; then
      now=$(( ${EPOCHREALTIME/[.,]/} - t0 ))
      printf '%3d.%02d %s\n' $((now / 1000000)) $((now % 1000000 / 10000)) "$line"
    else
      printf '%s\n' "$line"
    fi
  done
}
plugin_restore() { # (c): like a user, through the docker CLI, in the project's folder
  { (cd "$PROJ" && /usr/bin/time -v -o "$TMP/time-restore.txt" docker backup restore -p "$NAME" -y --json "$OUT/backup.tar.zst") \
    2>&1 >"$TMP/restore.json"; } | stamp >"$TMP/restore.log"
}
json_field() { # FILE KEY: a top-level number, string or list of strings of a JSON object
  if command -v python3 >/dev/null; then
    python3 -c 'import json, sys; v = json.load(open(sys.argv[1])).get(sys.argv[2], ""); print(" ".join(v) if isinstance(v, list) else v)' "$1" "$2"
  else # no jq or python3: good enough for the plugin's indented JSON
    tr -d '\n' < "$1" | sed -n "s/.*\"$2\": *\\(\\[[^]]*]\\|\"[^\"]*\"\\|[0-9.eE+-]*\\).*/\\1/p" |
      tr -d '"[],' | tr -s ' ' | sed 's/^ //; s/ $//'
  fi
}

log "restore: preparing the plain SQL and the plain tar for (b)"
gunzip -c "$OUT/dump.sql.gz" > "$OUT/dump.sql"
bzip2 -dc "$OUT/files.tar.bz2" > "$OUT/files.tar"
: > "$TMP/psql-b.log"
: > "$TMP/psql-a.log"

log "timing restore (b) raw loads"
timed rb_empty_db empty_server || die "restore (b): cannot empty the server"
timed rb_sql raw_load_sql || die "restore (b): psql failed"
check_psql_log b
check_db "(b)"
timed rb_empty_vol empty_volume || die "restore (b): cannot empty the volume"
timed rb_tar raw_load_tar || die "restore (b): tar -x failed"
check_vol "(b)"

log "timing restore (a) manual procedure"
up_all
timed ra_stop manual_stop || die "restore (a): docker compose stop app failed"
timed ra_empty_db empty_server || die "restore (a): cannot empty the server"
timed ra_sql manual_load_sql || die "restore (a): gunzip | psql failed"
timed ra_empty_vol empty_vol_dir || die "restore (a): cannot empty the volume's folder"
timed ra_tar manual_load_tar || die "restore (a): tar -xjf failed"
timed ra_start manual_start || die "restore (a): docker compose start app failed"
check_psql_log a
check_db "(a)"
check_vol "(a)"

log "timing restore (c) docker backup restore"
up_all
timed rc plugin_restore || { cat "$TMP/restore.log" >&2; die "docker backup restore failed"; }
check_db "(c)"
check_vol "(c)"
RC_SAFETY=$(json_field "$TMP/restore.json" safetyBackupSeconds)
RC_SAFETY_FILE=$(json_field "$TMP/restore.json" safetyBackup)
RC_PLUGIN=$(json_field "$TMP/restore.json" durationSeconds)
RC_WHAT="volumes $(json_field "$TMP/restore.json" volumes); databases $(json_field "$TMP/restore.json" databases)"
awk -v s="$RC_SAFETY" 'BEGIN { exit !(s + 0 > 0) }' || { cat "$TMP/restore.json" >&2; die "restore (c): no safetyBackupSeconds in the JSON summary"; }
case "$RC_SAFETY_FILE" in /*) ;; *) RC_SAFETY_FILE=$PROJ/$RC_SAFETY_FILE ;; esac
[ -s "$RC_SAFETY_FILE" ] || die "restore (c): the safety backup $RC_SAFETY_FILE is missing"
log "restore (c): safety backup $RC_SAFETY s of ${T[rc]} s; $RC_WHAT"

# -------------------------------------------------------- restore report ---
SQL_BYTES=$(size "$OUT/dump.sql")
TAR_BYTES=$(size "$OUT/files.tar")
RB=$(calc "printf \"%.2f\", ${T[rb_sql]} + ${T[rb_tar]}")
RA=$(calc "printf \"%.2f\", ${T[ra_stop]} + ${T[ra_sql]} + ${T[ra_tar]} + ${T[ra_start]}")
RC=${T[rc]}
RC_SAFETY=$(calc "printf \"%.2f\", $RC_SAFETY")
RC_NET=$(calc "printf \"%.2f\", $RC - $RC_SAFETY")
RC_PLUGIN=$(calc "printf \"%.2f\", ${RC_PLUGIN:-0}")
RSS_RESTORE=$(maxrss_kb "$TMP/time-restore.txt")
psql_errors() { # STEP: psql's distinct errors, how often each
  grep 'ERROR:' "$TMP/psql-$1.log" | sed 's/^.*ERROR: */ERROR: /' | sort | uniq -c |
    awk '{ n = $1; $1 = ""; printf "%s`%s` (%d x)", (NR > 1 ? ", " : ""), substr($0, 2), n } END { if (NR == 0) printf "no error" }'
}

cat <<EOF

## Restore results (one run each, after the create steps, in the order b, a, c; page cache $CACHES)

The data of the create steps, loaded back. Each SQL load goes into an empty server: app stopped, every database but postgres and the templates dropped, the role app kept. Each tar goes into the emptied volume (everything under /srv/data deleted). Emptying is not counted in (a) and (b). After every load, the database and the volume were checked against the generated data, untimed: $ORIG_DB_STATE; $ORIG_VOL_STATE.

| step | what | wall time (s) | input (MB) |
|---|---|---:|---:|
| (b) | psql < dump.sql (plain SQL, gunzip -c of (a)'s dump) | ${T[rb_sql]} | $(mb "$SQL_BYTES") |
| (b) | plain tar (bzip2 -dc of (a)'s files) \| tar -x in the volume (exec in app) | ${T[rb_tar]} | $(mb "$TAR_BYTES") |
| **(b)** | **raw loads, total** | **$RB** | **$(mb "$((SQL_BYTES + TAR_BYTES))")** |
| (a) | docker compose stop app (it ignores SIGTERM) | ${T[ra_stop]} | |
| (a) | gunzip < dump.sql.gz \| psql | ${T[ra_sql]} | $(mb "$A_DUMP") |
| (a) | tar -xjf files.tar.bz2 -C VOLUME (on the host) | ${T[ra_tar]} | $(mb "$A_TAR") |
| (a) | docker compose start app | ${T[ra_start]} | |
| **(a)** | **manual procedure, total** | **$RA** | **$(mb "$A_SIZE")** |
| (c) | docker backup restore -y of (c)'s archive, via the docker CLI: the whole command | $RC | $(mb "$C_SIZE") |
| (c) | of which its safety backup (safetyBackupSeconds; $(mb "$(size "$RC_SAFETY_FILE")") MB written) | $RC_SAFETY | |
| **(c)** | **docker backup restore without its safety backup** | **$RC_NET** | |

- psql, run without ON_ERROR_STOP as a user would, reported in (b): $(psql_errors b); in (a): $(psql_errors a). The role app exists already: expected and harmless.
- (c) restored $RC_WHAT; the plugin's own durationSeconds: $RC_PLUGIN s. It verifies the whole archive first, empties the server and the volume, and stops and starts app itself. For (a) and (b) the emptying was timed apart and is not in their totals: server (drop the databases; for (b) after stopping app) ${T[rb_empty_db]} s and ${T[ra_empty_db]} s, volume (find -delete; for (b) after starting app) ${T[rb_empty_vol]} s and ${T[ra_empty_vol]} s.
- (c) peak RSS, /usr/bin/time -v docker backup restore: $(mbk "$RSS_RESTORE") MB = $(mib "$RSS_RESTORE") MiB (the largest of the docker CLI and the plugin it waits for)

## Restore targets

| target | measured | |
|---|---|---|
| (c) wall, safety backup included, <= 0.3 x (a) | $RC s = $(calc "printf \"%.3f\", $RC / $RA") x (a) | $(verdict "$RC <= 0.3 * $RA") |
| (c) wall without the safety backup <= 0.3 x (a) | $RC_NET s = $(calc "printf \"%.3f\", $RC_NET / $RA") x (a) | $(verdict "$RC_NET <= 0.3 * $RA") |
| plugin peak RSS <= 64 MB (10^6 bytes) | $(mbk "$RSS_RESTORE") MB | $(verdict "$RSS_RESTORE * 1024 <= 64e6") |

What the plugin printed in restore (c), on stderr, each line after the seconds since the command started:

\`\`\`
$(cat "$TMP/restore.log")
\`\`\`
EOF

if [ -n "${BENCH_SUMMARY:-}" ]; then
  # One line for bench/sizes.sh: data in MB, times in s, sizes in MB, RSS in MB.
  echo "scale=$SCALE data=$(mb "$((DUMPALL_BYTES + VOL_BYTES))") dump=$(mb "$DUMPALL_BYTES") volume=$(mb "$VOL_BYTES")" \
    "p=$P c=$C a=$A p_size=$(mb "$P_SIZE") c_size=$(mb "$C_SIZE") c_rss=$(mbk "$RSS_STANDALONE")" \
    "p_tar=${T[p_tar]} v=${T[v]} ra=$RA rc=$RC rc_net=$RC_NET rc_rss=$(mbk "$RSS_RESTORE")" >> "$BENCH_SUMMARY"
fi
