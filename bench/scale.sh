#!/usr/bin/env bash
# Scaling out (issue 12): CPU-bound transcode throughput of one inboxd node against two nodes sharing one inbox and
# one PostgreSQL store (`[store] url`), each node pinned to a core of its own (`taskset -c 0`, `taskset -c 1`) with
# workers = 1. The nodes start and answer /healthz first; then the same JOBS drops (VP9/Opus clips of CLIP_SECONDS,
# so every job transcodes to x264), staged beside the inbox, are renamed into `incoming/` at once; the time is from
# those renames until every row is `ready` (throughput of running nodes: process start-up is not a job's cost).
# Goal: two nodes finish >= 1.8x the jobs per second of one. Needs 2 cores; PostgreSQL 15 (scripts/bootstrap) is
# started here as an unprivileged user in a temp dir (initdb, pg_ctl) and stopped at the end.
# JOBS=16 CLIP_SECONDS=6 (QUICK=1: 6 jobs of 3 s). Build first: swift build -c release.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

INBOXD=${INBOXD:-${INBOXD_BIN:-.build/release/inboxd}}
INBOXD=$(realpath "$INBOXD")
if [ "$QUICK" = 1 ]; then JOBS=${JOBS:-6}; CLIP_SECONDS=${CLIP_SECONDS:-3}; else JOBS=${JOBS:-16}; CLIP_SECONDS=${CLIP_SECONDS:-6}; fi
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/inboxd-bench-scale}
PGBIN=/usr/lib/postgresql/15/bin
[ -x "$INBOXD" ] || { echo "missing $INBOXD: run 'swift build -c release --product inboxd'" >&2; exit 1; }
[ -x "$PGBIN/initdb" ] || { echo "PostgreSQL 15 is missing: run scripts/bootstrap" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "needs 2 cores"; result "scale-out 1 → 2 nodes" "-" "-" "-" ">= 1.8x" "n/a"; exit 0; }
mkdir -p "$BENCH_DIR"
CLIP="$BENCH_DIR/vp9-opus-640x360-$CLIP_SECONDS.webm"
if [ ! -s "$CLIP" ]; then
    echo "generating $CLIP"
    ffmpeg -nostdin -y -v error -f lavfi -i "testsrc2=size=640x360:rate=30:duration=$CLIP_SECONDS" \
        -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$CLIP_SECONDS" -ac 2 -shortest \
        -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -b:v 1M -g 60 -c:a libopus -b:a 96k "$CLIP"
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
as_pg() { if [ "$(id -u)" = 0 ]; then setpriv --reuid=nobody --regid=nogroup --clear-groups --reset-env "$@"; else "$@"; fi; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/inboxd-scale.XXXXXX")
chmod 755 "$WORK" # the PostgreSQL user must reach its data directory
PGDIR="$WORK/pg"
mkdir -p "$PGDIR"
[ "$(id -u)" = 0 ] && chown nobody:nogroup "$PGDIR"
PGPORT=$(free_port)
PIDS=()
cleanup() {
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
as_pg "$PGBIN/initdb" -D "$PGDIR/data" -A trust -U inboxd -E UTF8 --no-sync >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w \
    -o "-k $PGDIR -p $PGPORT -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off" start >/dev/null
psql_() { psql -X -q -At -h 127.0.0.1 -p "$PGPORT" -U inboxd -d "$1" -c "$2"; }

# run NODES: a fresh database and inbox, NODES nodes pinned to cores 0.. and answering /healthz, then JOBS drops
# renamed in at once; prints the wall seconds from the renames until every row is done.
run() {
    local nodes=$1 db="scale$1_$RANDOM" root="$WORK/run$1" i port
    trap 'for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done' EXIT # this runs in $(…): its own trap
    psql_ postgres "CREATE DATABASE $db" >/dev/null
    mkdir -p "$root/inbox/incoming" "$root/staged" "$root/output"
    for i in $(seq "$JOBS"); do
        cp "$CLIP" "$root/staged/clip$i.webm"
        printf '{"title":"scale %s","video_id":"%s"}' "$i" "$(python3 -c 'import uuid; print(uuid.uuid4())')" \
            > "$root/staged/clip$i.webm.json"
    done
    PIDS=()
    local ports=()
    for i in $(seq 0 $((nodes - 1))); do
        port=$(free_port); ports+=("$port")
        cat > "$root/node$i.toml" <<TOML
inbox = "$root/inbox"
db = "$root/node$i.db"
output = "$root/output"
listen = "127.0.0.1:$port"
workers = 1
settle_seconds = 0.2
recovery_poll_seconds = 1
convert_nice = 0 # throughput, not HTTP latency, is measured here
convert_policy = "normal"
log_level = "warning"
[store]
url = "postgres://inboxd@127.0.0.1:$PGPORT/$db?sslmode=disable"
node = "bench$i"
TOML
        taskset -c "$i" "$INBOXD" run --config "$root/node$i.toml" >"$root/node$i.log" 2>&1 &
        PIDS+=($!)
    done
    for port in "${ports[@]}"; do
        for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
    done
    local started; started=$(date +%s.%N)
    for i in $(seq "$JOBS"); do mv "$root/staged/clip$i.webm" "$root/inbox/incoming/"; done
    for i in $(seq "$JOBS"); do mv "$root/staged/clip$i.webm.json" "$root/inbox/incoming/"; done
    # One psql waits inside the server (a loop of 20 ms sleeps) rather than a psql process started every few ms,
    # whose start-up would take CPU from the nodes when both cores are theirs.
    psql_ "$db" "DO \$\$ BEGIN WHILE (SELECT count(*) FROM videos WHERE status <> 'processing') < $JOBS LOOP
        PERFORM pg_sleep(0.02); END LOOP; END \$\$" &
    local waiter=$!
    while kill -0 "$waiter" 2>/dev/null; do
        sleep 0.2
        for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null || { echo "a node died; see $root" >&2; cat "$root"/node*.log >&2; kill "$waiter"; exit 1; }; done
    done
    wait "$waiter"
    local ended; ended=$(date +%s.%N)
    local failed; failed=$(psql_ "$db" "SELECT count(*) FROM videos WHERE status = 'failed'")
    [ "$failed" = 0 ] || { echo "$failed job(s) failed" >&2; psql_ "$db" "SELECT error FROM videos WHERE status='failed' LIMIT 3" >&2; exit 1; }
    local per_node; per_node=$(psql_ "$db" "SELECT count(*) FROM events WHERE message LIKE 'attempt % started'")
    for p in "${PIDS[@]}"; do kill "$p"; done
    wait "${PIDS[@]}" 2>/dev/null || true
    PIDS=()
    echo "  $nodes node(s): $JOBS jobs in $(printf '%.2f' "$(echo "$ended - $started" | bc -l)") s ($per_node attempts), load $(cut -d' ' -f1 /proc/loadavg)" >&2
    echo "$ended - $started" | bc -l
}

# The machine's own ceiling, as a control: the same conversion twice on core 0, then once on each core at once.
# On a machine whose other work keeps both cores busy this is far below 2, and so is any scale-out figure.
ceiling() {
    local out="$WORK/ceiling" t0 t1 t2 i
    t0=$(date +%s.%N)
    for i in 1 2 3; do
        taskset -c 0 "$INBOXD" convert "$CLIP" "$out-a" >/dev/null; taskset -c 0 "$INBOXD" convert "$CLIP" "$out-b" >/dev/null
        rm -rf "$out-a" "$out-b"
    done
    t1=$(date +%s.%N)
    for i in 1 2 3; do
        taskset -c 0 "$INBOXD" convert "$CLIP" "$out-a" >/dev/null & taskset -c 1 "$INBOXD" convert "$CLIP" "$out-b" >/dev/null; wait
        rm -rf "$out-a" "$out-b"
    done
    t2=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "%.2f %.2f %.2f\n", b - a, c - b, (b - a) / (c - b) }'
}

echo "scale-out: $JOBS VP9→x264 jobs of ${CLIP_SECONDS} s 640x360, workers=1 per node, node n on core n; $(nproc) cores"
read -r seq par control <<<"$(ceiling)"
echo "  control: 2 conversions one after the other on core 0 ${seq} s, at once on cores 0 and 1 ${par} s (3 rounds each)" >&2
result "scale-out control: the same conversion on 1 core twice vs 2 cores at once (s, 3 rounds; the machine's ceiling)" \
    "$par" "$seq" "$control" "n/a" "n/a"
one=$(run 1)
two=$(run 2)
r=$(awk -v a="$one" -v b="$two" 'BEGIN { printf "%.2f", a / b }')
result "scale-out: $JOBS transcodes, 1 → 2 nodes on PostgreSQL (jobs/s; load $(cut -d' ' -f1 /proc/loadavg))" \
    "$(awk -v n="$JOBS" -v t="$two" 'BEGIN { printf "%.2f", n / t }')" "$(awk -v n="$JOBS" -v t="$one" 'BEGIN { printf "%.2f", n / t }')" \
    "$r" ">= 1.8x" "$(meets "$r" '>=' 1.8)"
