#!/usr/bin/env bash
# Load benchmark of alert intake and paging (issue 5): PagerDuty Events API v2 triggers against
# `cordon serve`, on SQLite and on PostgreSQL, both durable (SQLite WAL with synchronous=FULL;
# PostgreSQL with fsync and synchronous_commit on). Reports what it measures; nothing here is
# asserted, and tests never time anything.
#
#   bench/intake.sh                                  # build release, run everything
#   INTAKE_BENCH_BACKENDS=sqlite bench/intake.sh     # one backend
#
# Each phase runs on a fresh server and a fresh database, so no phase inherits another's
# backlog:
#   1. max: closed loop for INTAKE_BENCH_SECONDS: accepted events/s, latency under saturation;
#      then how long the pipeline (processing, escalation, paging) takes to catch up.
#   2. fixed: open loop at INTAKE_BENCH_RATE events/s: acceptance latency measured from each
#      event's scheduled send time (no coordinated omission).
#   3. pages: open loop at INTAKE_BENCH_PAGE_RATE events/s spread over INTAKE_BENCH_PEOPLE
#      services, each paging its own on-call person by webhook. Measured twice: at the receiver
#      (from the 202 to the webhook naming the alert arriving; one clock, one process) and in
#      the database (notifications.sent_at - alerts.received_at: from acceptance to the moment
#      the dispatcher took the page, before its HTTP request). Per-person throttling (3 messages
#      a minute, then bundles) is Cordon's policy, not pipeline latency, so the rate and the
#      number of people are chosen to keep every person under it.
# In phases 1 and 2 every event (but INTAKE_BENCH_REPEATS of them) is a new alert on one service
# whose policy pages one person (through a schedule) at a local receiver: the pipeline works
# during the measurement, as it would in an alert storm.
#
# Environment:
#   INTAKE_BENCH_BACKENDS     "sqlite postgres" (default), or one of them
#   INTAKE_BENCH_SECONDS      duration of phases 1 and 2 (default 20)
#   INTAKE_BENCH_RATE         rate of phase 2 (default 2000)
#   INTAKE_BENCH_CONNECTIONS  connections of phases 1 and 2 (default 64)
#   INTAKE_BENCH_REPEATS      fraction of events in phases 1 and 2 that repeat an earlier
#                             dedup key (default 0: every event opens and pages a new alert)
#   INTAKE_BENCH_PAGE_RATE    rate of phase 3 (default 50)
#   INTAKE_BENCH_PAGE_SECONDS duration of phase 3 (default 10)
#   INTAKE_BENCH_PEOPLE       people (and services) of phase 3 (default 250)
#   INTAKE_BENCH_DRAIN        longest wait for the pipeline to catch up after phase 1, s (default 180)
#   INTAKE_BENCH_DIR          working directory (default: target-bench/intake, gitignored)
#   CORDON_BIN, LOADGEN_BIN   use these binaries instead of building them
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
backends=${INTAKE_BENCH_BACKENDS:-sqlite postgres}
seconds=${INTAKE_BENCH_SECONDS:-20}
fixed_rate=${INTAKE_BENCH_RATE:-2000}
connections=${INTAKE_BENCH_CONNECTIONS:-64}
repeats=${INTAKE_BENCH_REPEATS:-0}
page_rate=${INTAKE_BENCH_PAGE_RATE:-50}
page_seconds=${INTAKE_BENCH_PAGE_SECONDS:-10}
people=${INTAKE_BENCH_PEOPLE:-250}
drain_limit=${INTAKE_BENCH_DRAIN:-180}
work=${INTAKE_BENCH_DIR:-$root/target-bench/intake}
password=benchmark-password-0

# shellcheck source=../scripts/postgres.sh
source "$root/scripts/postgres.sh"

missing=()
for tool in curl python3 sqlite3; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}" >&2
    apt-get install -y "${missing[@]}" >/dev/null
fi

if [ -z "${CORDON_BIN:-}" ] || [ -z "${LOADGEN_BIN:-}" ]; then
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target-bench}
    cargo build --release -p cordon -p cordon-loadgen --manifest-path "$root/Cargo.toml" >&2
    CORDON_BIN=${CORDON_BIN:-$CARGO_TARGET_DIR/release/cordon}
    LOADGEN_BIN=${LOADGEN_BIN:-$CARGO_TARGET_DIR/release/cordon-loadgen}
fi

mkdir -p "$work"
rm -rf "$work"/sqlite-* "$work"/postgres-*
ticks=$(getconf CLK_TCK)
children=()

cleanup() {
    local pid
    for pid in "${children[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${children[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    children=()
    stop_test_postgres
}
trap cleanup EXIT

# A durable throwaway cluster: like start_test_postgres, but with fsync left on, because the
# benchmark compares durable acceptance.
start_bench_postgres() {
    local status=0
    start_pg_cluster -c max_connections=100 || status=$?
    if [ "$status" = 2 ]; then
        echo "PostgreSQL (initdb, pg_ctl) not found; skipping the PostgreSQL runs" >&2
    fi
    [ "$status" = 0 ] || return 1
    pg_url=$pg_cluster_url
    echo "started a durable throwaway PostgreSQL (fsync on) at $pg_url" >&2
}

# Reads one field of the JSON object on stdin.
field() {
    python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

# Busy CPU seconds of the whole machine, and of one process.
machine_busy() {
    awk -v hz="$ticks" '/^cpu / { print ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat
}
process_cpu() {
    awk -v hz="$ticks" '{ print ($14 + $15) / hz }' "/proc/$1/stat"
}

# Starts `cordon serve` on a fresh data directory (and a fresh PostgreSQL database), signs in
# and leaves an admin API token in $bearer, the base URL in $base, the pid in $server_pid.
start_cordon() {
    local backend=$1 phase=$2 port database=() log token csrf
    phase_dir=$work/$backend-$phase
    mkdir -p "$phase_dir/data"
    port=$(free_port)
    base=http://127.0.0.1:$port
    if [ "$backend" = postgres ]; then
        psql "$pg_url/postgres" -qAtc "CREATE DATABASE bench_$phase" >/dev/null
        db_url="$pg_url/bench_$phase"
        database=(--database "$db_url")
    fi
    log=$phase_dir/server.log
    : >"$log"
    "$CORDON_BIN" serve --data-dir "$phase_dir/data" "${database[@]}" --listen "127.0.0.1:$port" \
        --metrics-listen "127.0.0.1:$(free_port)" --public-url "$base" 2>"$log" >/dev/null &
    server_pid=$!
    children+=("$server_pid")
    for _ in $(seq 300); do
        grep -q "cordon serving on" "$log" && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; return 1; }
        sleep 0.1
    done
    token=$(grep -o 'cdn_setup_[A-Za-z0-9_-]*' "$log" | head -n 1)
    curl -sSf -X POST "$base/api/v1/setup" -H 'content-type: application/json' \
        -d "{\"token\":\"$token\",\"name\":\"bench\",\"password\":\"$password\"}" >/dev/null
    csrf=$(curl -sSf -c "$phase_dir/cookies" -X POST "$base/api/v1/session" -H 'content-type: application/json' \
        -d "{\"name\":\"bench\",\"password\":\"$password\"}" | field csrf_token)
    bearer=$(curl -sSf -b "$phase_dir/cookies" -X POST "$base/api/v1/tokens" -H 'content-type: application/json' \
        -H "x-csrf-token: $csrf" -d '{"label":"benchmark","scope":"admin"}' | field token)
}

# Calls the API as the benchmark's admin: api METHOD PATH [JSON].
api() {
    curl -sSf -X "$1" "$base$2" -H "authorization: Bearer $bearer" -H 'content-type: application/json' \
        ${3:+-d "$3"}
}

# A service NAME whose policy pages PERSON (directly, or through a schedule) at the webhook
# URL; prints the PagerDuty routing key of its integration.
paging_service() {
    local name=$1 person=$2 url=$3 via=${4:-person} target
    api POST /api/v1/contacts \
        "{\"person\":\"$person\",\"channel\":{\"kind\":\"webhook\",\"url\":\"$url\",\"secret\":\"benchmark-secret\"}}" >/dev/null
    target="{\"kind\":\"person\",\"name\":\"$person\"}"
    if [ "$via" = schedule ]; then
        api PUT "/api/v1/schedules/$name" "{\"time_zone\":\"UTC\",\"layers\":[{\"name\":\"all\",\"participants\":[\"$person\"],\"start_date\":\"2020-01-01\",\"handoff\":\"00:00\",\"shift\":{\"unit\":\"weeks\",\"count\":1}}],\"overrides\":[]}" >/dev/null
        target="{\"kind\":\"schedule\",\"name\":\"$name\"}"
    fi
    api PUT "/api/v1/escalation-policies/$name" "{\"levels\":[{\"targets\":[$target]}]}" >/dev/null
    api PUT "/api/v1/services/$name" "{\"escalation_policy\":\"$name\"}" >/dev/null
    api POST "/api/v1/services/$name/integrations" '{"kind":"pagerduty","rate_per_minute":100000000}' | field key
}

# Runs SQL on the phase's database, printing rows as text.
sql() {
    if [ "$1" = postgres ]; then
        psql "$db_url" -qAtF ' ' -c "$2"
    else
        sqlite3 -separator ' ' "$phase_dir/data/cordon.db" "$2"
    fi
}

start_receiver() {
    local port
    port=$(free_port)
    hook_url=http://127.0.0.1:$port/hook
    "$LOADGEN_BIN" receive --listen "127.0.0.1:$port" >"$phase_dir/receiver.json" 2>/dev/null &
    receiver_pid=$!
    children+=("$receiver_pid")
}

# Stops this phase's server and receiver.
stop_all() {
    local pid
    for pid in "${children[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    children=()
}

# Runs the load generator for a phase and keeps its JSON line plus the machine's state:
# measure BACKEND PHASE LOADGEN-ARGS...
measure() {
    local backend=$1 phase=$2
    shift 2
    local load_before busy_before server_before busy_after server_after load_after
    load_before=$(cut -d' ' -f1-3 /proc/loadavg)
    busy_before=$(machine_busy)
    server_before=$(process_cpu "$server_pid")
    "$LOADGEN_BIN" load --url "$base" --label "$backend $phase" "$@" >"$phase_dir/load.json"
    busy_after=$(machine_busy)
    server_after=$(process_cpu "$server_pid")
    load_after=$(cut -d' ' -f1-3 /proc/loadavg)
    {
        echo "backend=$backend"
        echo "phase=$phase"
        echo "machine_busy_s=$(awk -v a="$busy_before" -v b="$busy_after" 'BEGIN { print b - a }')"
        echo "server_cpu_s=$(awk -v a="$server_before" -v b="$server_after" 'BEGIN { print b - a }')"
        echo "load_before=$load_before"
        echo "load_after=$load_after"
    } >"$phase_dir/machine.env"
    echo "  server CPU $(grep server_cpu_s "$phase_dir/machine.env" | cut -d= -f2) s, machine busy $(grep machine_busy_s "$phase_dir/machine.env" | cut -d= -f2) CPU s; load average $load_before -> $load_after" >&2
}

# After phase 1: how long until every accepted event is processed into an alert, and until
# every alert's first escalation step has paged (the notification rows exist; with one person
# most of them then wait in the per-person throttle, which is policy, not backlog).
drain() {
    local backend=$1 started now left unprocessed unpaged processed_s="" paged_s=""
    started=$(date +%s.%N)
    while true; do
        if [ "$backend" = postgres ]; then
            unprocessed=$(sql "$backend" "SELECT count(*) FROM intake_events WHERE NOT processed")
        else
            # SQLite queues events in a file of its own; the database records how far it got.
            unprocessed=$(sql "$backend" "ATTACH '$phase_dir/data/cordon-intake.db' AS queue;
                SELECT count(*) FROM queue.intake_events WHERE seq > (SELECT last_seq FROM intake_progress)")
        fi
        unpaged=$(sql "$backend" "SELECT count(*) FROM escalations WHERE NOT done AND level = 0 AND round = 0")
        now=$(date +%s.%N)
        left=$(awk -v a="$started" -v b="$now" 'BEGIN { printf "%.1f", b - a }')
        if [ -z "$processed_s" ] && [ "$unprocessed" = 0 ]; then processed_s=$left; fi
        if [ -z "$paged_s" ] && [ "$unprocessed" = 0 ] && [ "$unpaged" = 0 ]; then paged_s=$left; fi
        if [ -n "$paged_s" ] || awk -v l="$left" -v m="$drain_limit" 'BEGIN { exit !(l >= m) }'; then
            break
        fi
        sleep 0.5
    done
    {
        echo "processed_after_s=${processed_s:-}"
        echo "paged_after_s=${paged_s:-}"
        echo "unprocessed=$unprocessed"
        echo "unpaged=$unpaged"
        echo "drain_waited_s=$left"
    } >>"$phase_dir/machine.env"
    echo "  after sending: all processed after ${processed_s:-more than $left} s (left: $unprocessed); first pages of all alerts written after ${paged_s:-more than $left} s (left: $unpaged)" >&2
}

run_backend() {
    local backend=$1 key keys_file page_port person
    echo "== $backend" >&2

    echo "-- max: closed loop, $connections connections, ${seconds}s" >&2
    start_cordon "$backend" max
    start_receiver
    key=$(paging_service load oncall "$hook_url" schedule)
    measure "$backend" max --key "$key" --connections "$connections" --duration "$seconds" \
        --repeat-fraction "$repeats"
    drain "$backend"
    stop_all

    echo "-- fixed: open loop at $fixed_rate events/s, ${seconds}s" >&2
    start_cordon "$backend" fixed
    start_receiver
    key=$(paging_service load oncall "$hook_url" schedule)
    measure "$backend" fixed --key "$key" --connections "$connections" --duration "$seconds" \
        --rate "$fixed_rate" --repeat-fraction "$repeats"
    stop_all

    echo "-- pages: open loop at $page_rate events/s over $people people, ${page_seconds}s" >&2
    start_cordon "$backend" pages
    page_port=$(free_port)
    keys_file=$phase_dir/keys
    : >"$keys_file"
    for person in $(seq "$people"); do
        paging_service "page$person" "pager$person" "http://127.0.0.1:$page_port/hook" >>"$keys_file"
    done
    measure "$backend" pages --keys-file "$keys_file" --connections 16 --duration "$page_seconds" \
        --rate "$page_rate" --notify-listen "127.0.0.1:$page_port" --notify-wait 30
    # The same latency as the database records it, one row per alert.
    sql "$backend" "SELECT n.sent_at - a.received_at FROM alerts a JOIN \
        (SELECT alert_id, min(sent_at) AS sent_at FROM notifications WHERE sent_at IS NOT NULL GROUP BY alert_id) n \
        ON n.alert_id = a.id" >"$phase_dir/db-latency.txt"
    echo "db_unpaged=$(sql "$backend" "SELECT count(*) FROM alerts a WHERE NOT EXISTS \
        (SELECT 1 FROM notifications n WHERE n.alert_id = a.id AND n.sent_at IS NOT NULL)")" >>"$phase_dir/machine.env"
    stop_all
}

sync_rate=$(cd "$work" && dd if=/dev/zero of=fsync-probe bs=4k count=200 oflag=dsync 2>&1 | awk '/copied/ { print $(NF-3) " s for 200 synced 4 KiB writes" }'; rm -f fsync-probe)
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); disk: $sync_rate" >&2

for backend in $backends; do
    case $backend in
        sqlite) run_backend sqlite ;;
        postgres)
            if start_bench_postgres; then
                run_backend postgres
                stop_test_postgres
            fi
            ;;
        *) echo "unknown backend $backend (sqlite or postgres)" >&2; exit 2 ;;
    esac
done

python3 - "$work" "$fixed_rate" <<'EOF'
import glob, json, math, os, sys

work, fixed_rate = sys.argv[1], sys.argv[2]

def load(phase_dir):
    line = json.load(open(os.path.join(phase_dir, "load.json")))
    env = dict(l.rstrip("\n").split("=", 1) for l in open(os.path.join(phase_dir, "machine.env")) if "=" in l)
    return line, env

def pct(values, p):
    values = sorted(values)
    return values[max(0, math.ceil(p * len(values)) - 1)] if values else float("nan")

rows = []
for backend in ("sqlite", "postgres"):
    if not os.path.isdir(os.path.join(work, f"{backend}-pages")):
        continue
    mx, mx_env = load(os.path.join(work, f"{backend}-max"))
    fx, fx_env = load(os.path.join(work, f"{backend}-fixed"))
    pg, pg_env = load(os.path.join(work, f"{backend}-pages"))
    db = [int(x) for x in open(os.path.join(work, f"{backend}-pages", "db-latency.txt")).read().split()]
    rows.append((backend, mx, mx_env, fx, fx_env, pg, pg_env, db))

def lat(line, key="latency_ms"):
    l = line.get(key) or {}
    return l

print()
print("| | " + " | ".join(r[0] for r in rows) + " | target |")
print("|---|" + "---|" * len(rows) + "---|")
def row(name, cells, target=""):
    print(f"| {name} | " + " | ".join(cells) + f" | {target} |")
row("max: accepted events/s (closed loop)", [f"{r[1]['accepted_per_s']:.0f}" for r in rows], "≥ 10,000")
row("max: latency p50 / p99 at saturation", [f"{lat(r[1])['p50']:.1f} / {lat(r[1])['p99']:.1f} ms" for r in rows])
row("max: not accepted", [f"{r[1]['sent'] - r[1]['accepted']}" for r in rows])
def after(env, key, left):
    if env.get(key):
        return f"{float(env[key]):.0f} s"
    return f"> {float(env['drain_waited_s']):.0f} s ({env[left]} left)"
row("max: backlog processed after sending ended", [after(r[2], "processed_after_s", "unprocessed") for r in rows])
row("max: every alert paged after sending ended", [after(r[2], "paged_after_s", "unpaged") for r in rows])
row("max: CPU s server / load generator / machine", [f"{float(r[2]['server_cpu_s']):.0f} / {r[1]['loadgen_cpu_s']:.0f} / {float(r[2]['machine_busy_s']):.0f}" for r in rows])
row(f"fixed {fixed_rate}/s: achieved events/s", [f"{r[3]['accepted_per_s']:.0f}" for r in rows])
row(f"fixed {fixed_rate}/s: p50 / p99 / p99.9 from due time", [f"{lat(r[3])['p50']:.1f} / {lat(r[3])['p99']:.1f} / {lat(r[3])['p999']:.1f} ms" for r in rows], "p99 < 25 ms")
row(f"fixed: CPU s server / machine", [f"{float(r[4]['server_cpu_s']):.0f} / {float(r[4]['machine_busy_s']):.0f}" for r in rows])
row("pages: 202 → webhook at receiver p50 / p99 / max", [f"{lat(r[5]['notify'])['p50']:.0f} / {lat(r[5]['notify'])['p99']:.0f} / {lat(r[5]['notify'])['max']:.0f} ms ({r[5]['notify']['paged']}/{r[5]['notify']['expected']})" for r in rows], "p99 < 1 s")
row("pages: received_at → sent_at in db p50 / p99 / max", [f"{pct(r[7], .5)} / {pct(r[7], .99)} / {max(r[7]) if r[7] else 'n/a'} ms ({len(r[7])}, {r[6]['db_unpaged']} unpaged)" for r in rows])
row("load average before → after (max, fixed, pages)", [f"{r[2]['load_before'].split()[0]}→{r[2]['load_after'].split()[0]}, {r[4]['load_before'].split()[0]}→{r[4]['load_after'].split()[0]}, {r[6]['load_before'].split()[0]}→{r[6]['load_after'].split()[0]}" for r in rows])
EOF
