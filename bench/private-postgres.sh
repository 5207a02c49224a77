#!/usr/bin/env bash
# Runs a command against a throwaway PostgreSQL cluster of its own, with the server and
# the command each pinned to a CPU, so that PostgreSQL figures do not depend on where the
# scheduler puts the client thread and its server process (a one-row round trip on the
# 2-core VM of docs/benchmarks.md takes about 40 µs when they share a CPU and about
# 120 µs when they do not).
#
#   bench/private-postgres.sh [--server-cpu N] [--client-cpu N] [--tmpfs] -- COMMAND..
#
# The cluster: `initdb` in a fresh temporary directory (on /dev/shm with --tmpfs, so that
# a commit's WAL flush costs no disk), default settings but `ssl = off`, listening on a
# free 127.0.0.1 port only, no Unix socket outside its directory; `unaccent` installed in
# `public` of its `test` database. COMMAND runs with BOOKSHELF_TEST_POSTGRES_URL set to
# `postgres://<user>@127.0.0.1:<port>/test?sslmode=disable` and PRIVATE_POSTGRES_DIR set to
# the cluster's directory. The server is stopped by its
# own pid file (pg_ctl -D .. stop) and the directory removed when the script exits, also
# on failure. As root, the server runs as the `postgres` OS user.
set -euo pipefail

server_cpu=1
client_cpu=0
tmpfs=0
while [ $# -gt 0 ]; do
    case "$1" in
        --server-cpu) server_cpu=$2; shift 2 ;;
        --client-cpu) client_cpu=$2; shift 2 ;;
        --tmpfs) tmpfs=1; shift ;;
        --) shift; break ;;
        *) echo "usage: $0 [--server-cpu N] [--client-cpu N] [--tmpfs] -- COMMAND.." >&2; exit 2 ;;
    esac
done
[ $# -gt 0 ] || { echo "$0: no command given" >&2; exit 2; }

bindir=$(pg_config --bindir)
if [ "$tmpfs" = 1 ]; then
    dir=$(mktemp -d /dev/shm/bookshelf-pg.XXXXXX)
else
    dir=$(mktemp -d)
fi
as_server() { "$@"; }
user=$(id -un)
if [ "$(id -u)" = 0 ]; then
    chown postgres "$dir"
    as_server() { runuser -u postgres -- "$@"; }
    user=postgres
fi
stop() {
    if [ -s "$dir/data/postmaster.pid" ]; then
        as_server "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    fi
    rm -rf "$dir"
}
trap stop EXIT

as_server "$bindir/initdb" -D "$dir/data" -A trust -U "$user" >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The postmaster and every backend it forks inherit its CPU affinity.
as_server taskset -c "$server_cpu" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c ssl=off" \
    start >/dev/null
"$bindir/psql" -q -h 127.0.0.1 -p "$port" -U "$user" -d postgres -c "CREATE DATABASE test"
"$bindir/psql" -q -h 127.0.0.1 -p "$port" -U "$user" -d test \
    -c "CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public"
echo "private PostgreSQL on 127.0.0.1:$port in $dir (server on CPU $server_cpu, command on CPU $client_cpu)" >&2

# The cluster's directory, for a command that wants the server's log (server.log).
PRIVATE_POSTGRES_DIR="$dir" BOOKSHELF_TEST_POSTGRES_URL="postgres://$user@127.0.0.1:$port/test?sslmode=disable" \
    taskset -c "$client_cpu" "$@"
