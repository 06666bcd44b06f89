#!/usr/bin/env bash
# Watchable while converting (issue 11), with a daemon publishing to a local SeaweedFS (`weed mini`, started here):
#   (a) claim → first playable: from the drop being claimed (phase leaves `queued`) to `preview_url` in the status
#       answer (master + first segment published), for a long 1080p transcode. Goal < 10 s.
#   (b) drop → ready with live publishing, against convert-then-upload: `inboxd convert` then `inboxd publish` of
#       the same input to the same server, one after the other. Goal: close to max(convert, upload), not their sum
#       (met when drop→ready ≤ 1.15 × max(convert, upload) + 2 s of claim and thumbnail).
# Source: MPEG-4 Part 2 1080p30 + AAC (not H.264, so inboxd transcodes), DURATION seconds: 1800 (30 min), 60 with
# QUICK=1; generated once into $BENCH_DIR. INBOXD_EXTRA_TOML: more config lines (e.g. 'first_segment_seconds = 0' for
# the first segment as long as the others). Build first: swift build -c release (or INBOXD=.build/debug/inboxd).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

INBOXD=${INBOXD:-${INBOXD_BIN:-.build/release/inboxd}}
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/inboxd-bench-live}
if [ "$QUICK" = 1 ]; then DURATION=${DURATION:-60}; else DURATION=${DURATION:-1800}; fi
[ -x "$INBOXD" ] || { echo "missing $INBOXD: run 'swift build -c release --product inboxd'" >&2; exit 1; }
command -v weed >/dev/null || { echo "weed (SeaweedFS) is not installed: scripts/bootstrap installs it" >&2; exit 1; }
mkdir -p "$BENCH_DIR"
SRC="$BENCH_DIR/mpeg4-aac-1080p-$DURATION.mkv"
if [ ! -s "$SRC" ]; then
    echo "generating $SRC"
    ffmpeg -nostdin -y -v error -f lavfi -i "testsrc2=size=1920x1080:rate=30:duration=$DURATION" \
        -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$DURATION" -ac 2 -shortest \
        -c:v mpeg4 -q:v 4 -g 60 -c:a aac -b:a 128k "$SRC"
fi

RUN=$(mktemp -d "$BENCH_DIR/run.XXXXXX")
WEED_PID=""; DAEMON_PID=""
cleanup() {
    [ -z "$DAEMON_PID" ] || { kill "$DAEMON_PID" 2>/dev/null; wait "$DAEMON_PID" 2>/dev/null || true; }
    [ -z "$WEED_PID" ] || { kill "$WEED_PID" 2>/dev/null; wait "$WEED_PID" 2>/dev/null || true; }
    rm -rf "$RUN"
}
trap cleanup EXIT

read -r -a P <<<"$(python3 -c 'import socket
ss=[socket.socket() for _ in range(11)]
[s.bind(("127.0.0.1",0)) for s in ss]
print(" ".join(str(s.getsockname()[1]) for s in ss))
[s.close() for s in ss]')"
KEY=benchkey; SECRET="bench-secret-$RANDOM$RANDOM"; BUCKET=live-bench
cat > "$RUN/s3.json" <<EOF
{"identities": [{"name": "admin", "credentials": [{"accessKey": "$KEY", "secretKey": "$SECRET"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}, {"name": "anonymous", "actions": ["Read"]}]}
EOF
mkdir -p "$RUN/weed"
weed -logdir="$RUN/weed" mini -dir="$RUN/weed" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false -webdav=false \
    -admin.ui=false -master.port="${P[0]}" -master.port.grpc="${P[1]}" -volume.port="${P[2]}" -volume.port.grpc="${P[3]}" \
    -filer.port="${P[4]}" -filer.port.grpc="${P[5]}" -s3.port="${P[6]}" -s3.port.grpc="${P[7]}" -s3.port.iceberg=0 \
    -s3.port.lance=0 -admin.port="${P[8]}" -admin.port.grpc="${P[9]}" -s3.config="$RUN/s3.json" \
    -s3.autoCreateBucket=false -bucket="$BUCKET" > "$RUN/weed.out" 2>&1 &
WEED_PID=$!
ENDPOINT="http://127.0.0.1:${P[6]}"
for _ in $(seq 600); do
    curl -s "$ENDPOINT/$BUCKET/nope" 2>/dev/null | grep -q NoSuchKey && break
    sleep 0.1
done

PORT=${P[10]}
mkdir -p "$RUN/inbox/incoming"
cat > "$RUN/inboxd.toml" <<EOF
inbox = "$RUN/inbox"
db = "$RUN/inboxd.db"
output = "$RUN/output"
listen = "127.0.0.1:$PORT"
workers = 1
settle_seconds = 0.5
job_time_limit_seconds = 36000
convert_nice = 0  # the same priority as the inboxd convert it is compared with
convert_policy = "normal"
${INBOXD_EXTRA_TOML:-}
[s3]
endpoint = "$ENDPOINT"
bucket = "$BUCKET"
prefix = "bench"
access_key_id = "$KEY"
secret_access_key = "$SECRET"
EOF

now() { date +%s.%N; }

# (b) baseline: convert, then upload, one after the other (skipped with PLAYABLE_ONLY=1, which measures (a) only and
# stops the job once its preview is playable: a 30-min source then costs seconds instead of two long transcodes).
PLAYABLE_ONLY=${PLAYABLE_ONLY:-0}
if [ "$PLAYABLE_ONLY" != 1 ]; then
    t0=$(now); "$INBOXD" convert "$SRC" "$RUN/hls" >/dev/null; t1=$(now)
    "$INBOXD" publish "$RUN/hls" --config "$RUN/inboxd.toml" --prefix "bench/baseline" >/dev/null; t2=$(now)
    convert_s=$(echo "$t1 - $t0" | bc -l); upload_s=$(echo "$t2 - $t1" | bc -l)
    rm -rf "$RUN/hls"
fi

"$INBOXD" run --config "$RUN/inboxd.toml" > "$RUN/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done

ID=$(python3 -c 'import uuid; print(uuid.uuid4())')
cp "$SRC" "$RUN/inbox/incoming/live.mkv"  # a copy: inboxd refuses hard links into the inbox
printf '{"title": "live bench", "video_id": "%s"}' "$ID" > "$RUN/inbox/incoming/live.mkv.json"
dropped=$(now); claimed=""; playable=""; ready=""
while [ -z "$ready" ]; do
    j=$(curl -s "http://127.0.0.1:$PORT/api/videos/$ID/status" || true)
    t=$(now)
    if [ -z "$claimed" ] && echo "$j" | grep -q '"phase"' && ! echo "$j" | grep -q '"phase":"queued"'; then claimed=$t; fi
    if [ -z "$playable" ] && echo "$j" | grep -q '"preview_url":"http'; then playable=$t; fi
    if echo "$j" | grep -q '"status":"ready"'; then ready=$t; fi
    if echo "$j" | grep -q '"status":"failed"'; then echo "the job failed: $j" >&2; exit 1; fi
    [ "$PLAYABLE_ONLY" = 1 ] && [ -n "$playable" ] && break
    sleep 0.1
done
[ -n "$claimed" ] || claimed=$dropped
first_s=$(echo "$playable - $claimed" | bc -l)
label="$((DURATION / 60)) min"; [ "$DURATION" -ge 60 ] || label="$DURATION s"
if [ "$PLAYABLE_ONLY" = 1 ]; then
    printf 'live: claim→playable %.1f s (drop→claim %.1f s); the job is stopped here (PLAYABLE_ONLY=1)\n' \
        "$first_s" "$(echo "$claimed - $dropped" | bc -l)"
    result "live: claim → first playable segment, $label 1080p transcode, s" "$(printf %.1f "$first_s")" "-" "-" "< 10 s" \
        "$(meets "$first_s" '<' 10)"
    exit 0
fi
total_s=$(echo "$ready - $dropped" | bc -l)
sum_s=$(echo "$convert_s + $upload_s" | bc -l)
max_s=$(awk -v a="$convert_s" -v b="$upload_s" 'BEGIN { print (a > b) ? a : b }')
printf 'live: claim→playable %.1f s, drop→ready %.1f s; convert %.1f s + upload %.1f s = %.1f s (max %.1f s)\n' \
    "$first_s" "$total_s" "$convert_s" "$upload_s" "$sum_s" "$max_s"
echo "live: the job's phases (s) and CPU: $(sqlite3 "$RUN/inboxd.db" "SELECT 'probe ' || probe_s || ', convert ' || convert_s || ', upload ' || upload_s || ', cpu ' || cpu_s || ', playable_at ' || playable_at || ', started_at ' || started_at FROM videos" 2>/dev/null)"
result "live: claim → first playable segment, $label 1080p transcode, s" "$(printf %.1f "$first_s")" "-" "-" "< 10 s" \
    "$(meets "$first_s" '<' 10)"
result "live: drop → ready vs convert + upload (max $(printf %.1f "$max_s") s), $label 1080p → S3, s" \
    "$(printf %.1f "$total_s")" "$(printf %.1f "$sum_s")" "$(ratio "$total_s" "$sum_s")" \
    "≤ 1.15 × max + 2 s" "$(meets "$total_s" '<=' "$(echo "1.15 * $max_s + 2" | bc -l)")"
