#!/usr/bin/env bash
# The daemon's CPU time per request (utime+stime over the requests wrk got, `wrk -t2 -c64`) for /healthz and
# …/status: of a finished job, of a running one (its ETA filled in per request; the row is made running with
# sqlite3, no transcode needed) and a 304 revalidation. Steadier than req/s on a shared machine, since other
# processes' load changes the rate more than the cost. RUNS rounds (3; 1 with QUICK=1), medians. Not in run-all:
# a diagnostic of where the status route's cost is, beside bench/status.sh.
source "$(dirname "$0")/fastapi_seed/servers.sh"
if [ "$QUICK" = 1 ]; then DURATION=${DURATION:-3s}; RUNS=${RUNS:-1}; else DURATION=${DURATION:-5s}; RUNS=${RUNS:-3}; fi
bench_prereqs
mkdir -p "$WORK"
head -c 65536 /dev/urandom > "$WORK/small.bin"
start_inboxd
DB=$WORK/inboxd/inboxd.db
ID=$(curl -sS -H "Authorization: Bearer $TOKEN" -F "video=@$WORK/small.bin;type=video/mp4" -F title=s "$INBOXD_URL/api/videos/" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["video_id"])')
for _ in $(seq 1 100); do [ "$(sqlite3 "$DB" "SELECT status FROM videos WHERE video_id='$ID'")" = failed ] && break; sleep 0.1; done
RUN=00000000-0000-4000-8000-$(printf '%012d' $RANDOM)
sqlite3 "$DB" "INSERT INTO videos (video_id, title, source, status, phase, progress, started_at, created_at, updated_at, video_url, thumbnail_url)
  SELECT '$RUN', title, source, 'processing', 'converting', 0.4, strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-60 seconds'),
         created_at, updated_at, video_url, thumbnail_url FROM videos WHERE video_id = '$ID'"
TICK=$(getconf CLK_TCK)
cpu_s() { awk -v t="$TICK" '{ sub(/^.*\) /, ""); split($0, f, " "); printf "%.3f\n", (f[12] + f[13]) / t }' "/proc/$INBOXD_PID/stat"; }
us_per_request() { # url [wrk args…]: prints "µs-per-request req/s"
  local url=$1; shift
  local c0 c1 out; c0=$(cpu_s); out=$(wrk -t2 -c64 -d"$DURATION" "$@" "$url"); c1=$(cpu_s)
  echo "$out" | awk -v a="$c0" -v b="$c1" '/requests in/ {n=$1} /Requests\/sec/ {r=$2} END {printf "%.1f %s\n", (b - a) * 1e6 / n, r}'
}
TAG=$(curl -sSI "$INBOXD_URL/api/videos/$ID/status" | awk -F': ' 'tolower($1)=="etag" {sub(/\r$/,"",$2); print $2}')
h=(); f=(); e=(); n=()
for run in $(seq 1 "$RUNS"); do
  read -r x _ < <(us_per_request "$INBOXD_URL/healthz"); h+=("$x")
  read -r x _ < <(us_per_request "$INBOXD_URL/api/videos/$ID/status"); f+=("$x")
  read -r x _ < <(us_per_request "$INBOXD_URL/api/videos/$RUN/status"); e+=("$x")
  read -r x _ < <(us_per_request "$INBOXD_URL/api/videos/$ID/status" -H "If-None-Match: $TAG"); n+=("$x")
  echo "run $run: µs CPU per request: healthz ${h[-1]}, status (finished) ${f[-1]}, status (running) ${e[-1]}, 304 ${n[-1]}"
done
H=$(median "${h[@]}"); F=$(median "${f[@]}"); E=$(median "${e[@]}"); N=$(median "${n[@]}")
result "status CPU µs/request, finished job" "$F" "healthz $H" "$(ratio "$F" "$H")" "-" "n/a"
result "status CPU µs/request, running job" "$E" "healthz $H" "$(ratio "$E" "$H")" "-" "n/a"
result "status 304 CPU µs/request" "$N" "healthz $H" "$(ratio "$N" "$H")" "-" "n/a"
