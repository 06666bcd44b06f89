#!/usr/bin/env bash
# Status-route throughput: `wrk` on GET /api/videos/{id}/status of inboxd and of the FastAPI seed
# (bench/fastapi_seed), 64 connections for DURATION each; prints req/s, p99 and the ratio. Goal: >= 10x the seed.
source "$(dirname "$0")/fastapi_seed/servers.sh"
DURATION=${DURATION:-10s}
bench_prereqs
mkdir -p "$WORK"
head -c 65536 /dev/urandom > "$WORK/small.bin"
start_inboxd
start_seed

id_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["video_id"])'; }
IID=$(curl -sS -H "Authorization: Bearer $TOKEN" -F "video=@$WORK/small.bin;type=video/mp4" -F title=s "$INBOXD_URL/api/videos/" | id_of)
SID=$(curl -sS -H "Authorization: Bearer bench-token" -F "video=@$WORK/small.bin;type=video/mp4" -F title=s "$SEED_URL/api/videos/" | id_of)
sleep 2  # let inboxd's worker finish with the (unplayable) drop so only the status route runs

# Prints "req/s p99".
run_wrk() {
  wrk -t2 -c64 -d"$DURATION" --latency "$1" > "$WORK/wrk-$2.txt"
  awk '/Requests\/sec/ {r=$2} /^ +99%/ {p=$2} END {print r, p}' "$WORK/wrk-$2.txt"
}
read -r rps_i p99_i < <(run_wrk "$INBOXD_URL/api/videos/$IID/status" inboxd)
read -r rps_s p99_s < <(run_wrk "$SEED_URL/api/videos/$SID/status" seed)
echo "status route, wrk -t2 -c64 -d$DURATION: inboxd $rps_i req/s (p99 $p99_i), FastAPI seed $rps_s req/s (p99 $p99_s)"
awk -v a="$rps_i" -v b="$rps_s" 'BEGIN { printf "req/s ratio inboxd/seed: %.1fx (goal >= 10x)\n", a / b }'
