# Throwaway PostgreSQL and MariaDB servers on 127.0.0.1 for the SQL
# conformance suites. Sourced by .ci/run; developers can use it too:
#   source .ci/services.sh && start_postgres && start_mysql
# Each start_* exports the DSN the tests read and registers a stop in
# SERVICES_STOP, run by stop_services. A server that does not come up is
# an error (return 1), never a skip.

SERVICES_STOP=()
PG_PORT=${PG_PORT:-55432}
MYSQL_PORT=${MYSQL_PORT:-53306}

stop_services() {
  local i
  for ((i = ${#SERVICES_STOP[@]} - 1; i >= 0; i--)); do
    eval "${SERVICES_STOP[$i]}" || true
  done
  SERVICES_STOP=()
}

start_postgres() {
  local bin dir
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$bin" ]; then echo "start_postgres: PostgreSQL is not installed" >&2; return 1; fi
  dir=$(mktemp -d /tmp/mfa-pg.XXXXXX)
  chown postgres:postgres "$dir"
  runuser -u postgres -- "$bin/initdb" -D "$dir/data" --auth=trust -U postgres >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; return 1; }
  runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $dir -c max_connections=200" start >/dev/null \
    || { cat "$dir/server.log" >&2; return 1; }
  SERVICES_STOP+=("runuser -u postgres -- '$bin/pg_ctl' -D '$dir/data' -m fast -w stop >/dev/null; rm -rf '$dir'")
  runuser -u postgres -- "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE mfa_test" \
    || { cat "$dir/server.log" >&2; return 1; }
  export MFA_TEST_POSTGRES_DSN="postgres://postgres@127.0.0.1:$PG_PORT/mfa_test?sslmode=disable"
  echo "PostgreSQL up: $MFA_TEST_POSTGRES_DSN"
}

start_mysql() {
  local dir server i
  server=$(command -v mariadbd || command -v mysqld || ls /usr/sbin/mariadbd /usr/sbin/mysqld 2>/dev/null | head -n 1)
  if [ -z "$server" ]; then echo "start_mysql: MariaDB/MySQL is not installed" >&2; return 1; fi
  dir=$(mktemp -d /tmp/mfa-mysql.XXXXXX)
  chown mysql:mysql "$dir"
  mariadb-install-db --no-defaults --user=mysql --datadir="$dir/data" --auth-root-authentication-method=socket \
    >"$dir/install.log" 2>&1 || { cat "$dir/install.log" >&2; return 1; }
  "$server" --no-defaults --user=mysql --datadir="$dir/data" --socket="$dir/mysql.sock" \
    --pid-file="$dir/mysql.pid" --port="$MYSQL_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
    --max-connections=300 >"$dir/server.log" 2>&1 &
  SERVICES_STOP+=("kill \$(cat '$dir/mysql.pid' 2>/dev/null) 2>/dev/null; for _ in \$(seq 100); do [ -e '$dir/mysql.pid' ] || break; sleep 0.1; done; rm -rf '$dir'")
  for i in $(seq 1 120); do
    mariadb --no-defaults -S "$dir/mysql.sock" -u root -e "SELECT 1" >/dev/null 2>&1 && break
    sleep 0.5
  done
  mariadb --no-defaults -S "$dir/mysql.sock" -u root -e "
    CREATE DATABASE mfa_test;
    CREATE USER 'mfa'@'127.0.0.1' IDENTIFIED BY 'mfa';
    GRANT ALL ON mfa_test.* TO 'mfa'@'127.0.0.1';" \
    || { echo "start_mysql: server did not come up" >&2; cat "$dir/server.log" >&2; return 1; }
  export MFA_TEST_MYSQL_DSN="mfa:mfa@tcp(127.0.0.1:$MYSQL_PORT)/mfa_test?interpolateParams=true"
  echo "MariaDB up: $MFA_TEST_MYSQL_DSN"
}
