#!/usr/bin/env bash
# Behaves like the official mariadb image's entrypoint for what the tests use:
# MARIADB_* and MYSQL_* ROOT_PASSWORD, DATABASE, USER, PASSWORD,
# ALLOW_EMPTY_ROOT_PASSWORD, RANDOM_ROOT_PASSWORD, each also as a _FILE
# variant, and /docker-entrypoint-initdb.d on first start. As in the official
# images, root needs its password: no unix-socket authentication.
set -Eeuo pipefail

file_env() { # VAR [DEFAULT]: MARIADB_VAR, MYSQL_VAR, or the file named by their _FILE
  local name=$1 def="${2:-}" val=""
  for v in "MARIADB_$name" "MYSQL_$name"; do
    local f="${v}_FILE"
    if [ -z "$val" ] && [ -n "${!v:-}" ]; then val="${!v}"; fi
    if [ -z "$val" ] && [ -n "${!f:-}" ]; then val="$(< "${!f}")"; fi
    unset "$f"
  done
  [ -n "$val" ] || val="$def"
  export "MARIADB_$name"="$val"
}

if [ "${1:0:1}" = '-' ]; then set -- mariadbd "$@"; fi

if [ "$1" = mariadbd ] || [ "$1" = mysqld ]; then
  if [ "$(id -u)" = 0 ]; then
    mkdir -p /var/lib/mysql /run/mysqld && chown mysql:mysql /var/lib/mysql /run/mysqld
    exec setpriv --reuid=mysql --regid=mysql --init-groups "$BASH_SOURCE" "$@"
  fi

  if [ ! -d /var/lib/mysql/mysql ]; then
    file_env ROOT_PASSWORD
    file_env ALLOW_EMPTY_ROOT_PASSWORD
    file_env RANDOM_ROOT_PASSWORD
    file_env DATABASE
    file_env USER
    file_env PASSWORD
    if [ -z "$MARIADB_ROOT_PASSWORD" ] && [ -z "$MARIADB_ALLOW_EMPTY_ROOT_PASSWORD" ] && [ -z "$MARIADB_RANDOM_ROOT_PASSWORD" ]; then
      echo >&2 "error: database is uninitialized and password option is not specified"
      echo >&2 "  You need to specify one of MARIADB_ROOT_PASSWORD, MARIADB_ROOT_PASSWORD_FILE, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD and MARIADB_RANDOM_ROOT_PASSWORD"
      exit 1
    fi
    if [ -n "$MARIADB_RANDOM_ROOT_PASSWORD" ]; then
      MARIADB_ROOT_PASSWORD=$(head -c 24 /dev/urandom | base64)
      echo "GENERATED ROOT PASSWORD: $MARIADB_ROOT_PASSWORD"
    fi

    mariadb-install-db --user=mysql --datadir=/var/lib/mysql --auth-root-authentication-method=normal \
      --skip-test-db --skip-name-resolve --rpm >/dev/null
    "$@" --skip-networking --default-time-zone=SYSTEM --socket=/run/mysqld/mysqld.sock \
      --wsrep_on=OFF --loose-innodb_buffer_pool_load_at_startup=0 &
    pid=$!
    for _ in $(seq 60); do
      if mariadb --no-defaults --socket=/run/mysqld/mysqld.sock -uroot --database=mysql -e 'SELECT 1' >/dev/null 2>&1; then break; fi
      sleep 1
    done
    sqlesc() { local s=${1//\\/\\\\}; printf '%s' "${s//\'/\\\'}"; }
    sql() { mariadb --no-defaults --socket=/run/mysqld/mysqld.sock -uroot --database=mysql --binary-mode "$@"; }
    rootpw=$(sqlesc "$MARIADB_ROOT_PASSWORD")
    {
      echo "SET @@SESSION.SQL_LOG_BIN=0;"
      echo "DROP USER IF EXISTS root@'127.0.0.1', root@'::1';"
      echo "DELETE FROM mysql.global_priv WHERE user NOT IN ('mysql.sys', 'mariadb.sys', 'root') OR host NOT IN ('localhost');"
      echo "SET PASSWORD FOR 'root'@'localhost'= PASSWORD('$rootpw');"
      echo "CREATE USER 'root'@'%' IDENTIFIED BY '$rootpw';"
      echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
      echo "GRANT PROXY ON ''@'%' TO 'root'@'%' WITH GRANT OPTION;"
      if [ -n "$MARIADB_DATABASE" ]; then
        echo "CREATE DATABASE IF NOT EXISTS \`$MARIADB_DATABASE\`;"
      fi
      if [ -n "$MARIADB_USER" ] && [ -n "$MARIADB_PASSWORD" ]; then
        echo "CREATE USER '$MARIADB_USER'@'%' IDENTIFIED BY '$(sqlesc "$MARIADB_PASSWORD")';"
        if [ -n "$MARIADB_DATABASE" ]; then
          echo "GRANT ALL ON \`${MARIADB_DATABASE//_/\\_}\`.* TO '$MARIADB_USER'@'%';"
        fi
      fi
      echo "FLUSH PRIVILEGES;"
    } | sql
    export MYSQL_PWD="$MARIADB_ROOT_PASSWORD"
    for f in /docker-entrypoint-initdb.d/*; do
      case "$f" in
        *.sh) echo "running $f"; if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
        *.sql) echo "running $f"; sql --database="${MARIADB_DATABASE:-mysql}" < "$f" ;;
        *.sql.gz) echo "running $f"; gunzip -c "$f" | sql --database="${MARIADB_DATABASE:-mysql}" ;;
        *) ;;
      esac
    done
    unset MYSQL_PWD
    kill "$pid"; wait "$pid" || true
    echo "MariaDB init process done. Ready for start up."
  fi
fi

exec "$@"
