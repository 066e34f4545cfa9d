# Starts a throwaway PostgreSQL cluster for the test suite; source this file, then call
# `start_test_postgres`. It exports CORDON_TEST_POSTGRES_URL and stops the cluster on exit.
# PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` user.

find_pg_bin() {
    local tool=$1
    if command -v "$tool" >/dev/null 2>&1; then
        command -v "$tool"
        return
    fi
    local candidate
    for candidate in /usr/lib/postgresql/*/bin/"$tool"; do
        if [ -x "$candidate" ]; then
            echo "$candidate"
            return
        fi
    done
    return 1
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Starts a cluster in a fresh temporary directory with the server settings given (`-c k=v`
# ...); sets pg_cluster_url and what stop_test_postgres needs. Fails with the server's log.
start_pg_cluster() {
    local initdb pg_ctl dir port as_pg=()
    if ! initdb=$(find_pg_bin initdb) || ! pg_ctl=$(find_pg_bin pg_ctl); then
        return 2
    fi
    dir=$(mktemp -d /tmp/cordon-pg.XXXXXX)
    port=$(free_port)
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$dir"
        as_pg=(runuser -u postgres --)
    fi
    "${as_pg[@]}" "$initdb" -D "$dir/data" -A trust -U postgres --no-sync >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; return 1; }
    "${as_pg[@]}" "$pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 $*" start >/dev/null \
        || { cat "$dir/server.log" >&2; return 1; }
    pg_cluster_url="postgres://postgres@127.0.0.1:$port"
    CORDON_TEST_PG_DIR=$dir
    CORDON_TEST_PG_CTL=$pg_ctl
    CORDON_TEST_PG_AS=("${as_pg[@]}")
}

# The test suite's cluster: nothing it stores must survive a crash, so fsync is off.
start_test_postgres() {
    local status=0
    start_pg_cluster -c fsync=off -c max_connections=300 || status=$?
    if [ "$status" = 2 ]; then
        echo "notice: PostgreSQL (initdb, pg_ctl) not found; the PostgreSQL suite will be skipped" >&2
        return 0
    elif [ "$status" != 0 ]; then
        return "$status"
    fi
    export CORDON_TEST_POSTGRES_URL="$pg_cluster_url/postgres"
    trap stop_test_postgres EXIT
    echo "started throwaway PostgreSQL at $pg_cluster_url" >&2
}

stop_test_postgres() {
    if [ -n "${CORDON_TEST_PG_DIR:-}" ]; then
        "${CORDON_TEST_PG_AS[@]}" "$CORDON_TEST_PG_CTL" -D "$CORDON_TEST_PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
        rm -rf "$CORDON_TEST_PG_DIR"
        CORDON_TEST_PG_DIR=
    fi
}
