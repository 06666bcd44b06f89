#!/usr/bin/env bash
# Status-route throughput and latency, `wrk -t2 -c64`, inboxd beside the FastAPI seed (bench/fastapi_seed):
#   idle:  inboxd GET /healthz and GET …/status with no job running;
#   busy:  while inboxd transcodes a VP9 1080p clip (1 worker): inboxd …/status (the running job's),
#          …/status with a matching If-None-Match (304), /healthz, and the seed's …/status on the same loaded machine.
# RUNS alternating rounds (inboxd, then the seed), medians. Goals (issue 10): status busy >= 0.8x inboxd's own idle
# /healthz rate, p99 < 5 ms, >= 6x the seed. INBOXD_EXTRA_TOML='convert_policy = "normal"' (with "convert_nice = 0") shows the effect of the default `idle`, "batch" that of
# the scheduling class; bench/status-cpu.sh gives the CPU cost per request.
source "$(dirname "$0")/fastapi_seed/servers.sh"
if [ "$QUICK" = 1 ]; then DURATION=${DURATION:-3s}; RUNS=${RUNS:-1}; CLIP_SECONDS=${CLIP_SECONDS:-30}
else DURATION=${DURATION:-10s}; RUNS=${RUNS:-3}; CLIP_SECONDS=${CLIP_SECONDS:-120}; fi
bench_prereqs
mkdir -p "$WORK/media"
head -c 65536 /dev/urandom > "$WORK/small.bin"
CLIP=$WORK/media/status-load-$CLIP_SECONDS.webm
[ -s "$CLIP" ] || { echo "generating $CLIP"; ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=1920x1080:rate=30:duration=$CLIP_SECONDS" \
  -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -row-mt 1 -b:v 4M -g 60 "$CLIP"; }
start_inboxd
start_seed

id_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["video_id"])'; }
IID=$(curl -sS -H "Authorization: Bearer $TOKEN" -F "video=@$WORK/small.bin;type=video/mp4" -F title=s "$INBOXD_URL/api/videos/" | id_of)
SID=$(curl -sS -H "Authorization: Bearer bench-token" -F "video=@$WORK/small.bin;type=video/mp4" -F title=s "$SEED_URL/api/videos/" | id_of)
sleep 2  # let inboxd's worker finish with the (unplayable) drop so only the status route runs
DB=$WORK/inboxd/inboxd.db

# Prints "req/s p99-ms". Extra wrk arguments (headers) after the URL and name.
run_wrk() {
  local url=$1 name=$2; shift 2
  wrk -t2 -c64 -d"$DURATION" --latency "$@" "$url" > "$WORK/wrk-$name.txt"
  awk '/Requests\/sec/ {r=$2}
       /^ +99%/ {p=$2; v=p+0; if (p ~ /us$/) v/=1000; else if (p ~ /ms$/) v=v; else if (p ~ /s$/) v*=1000; q=v}
       END {printf "%s %.2f\n", r, q}' "$WORK/wrk-$name.txt"
}
converting_id() { sqlite3 "$DB" "SELECT video_id FROM videos WHERE phase='converting' LIMIT 1" 2>/dev/null; }
start_transcode() { # drops the clip (unless a conversion already runs) and prints the converting job's id
  local id; id=$(converting_id)
  if [ -z "$id" ]; then
    local n=load-$RANDOM$RANDOM
    cp "$CLIP" "$WORK/inboxd/inbox/incoming/$n.webm"; echo '{"title":"load"}' > "$WORK/inboxd/inbox/incoming/$n.webm.json"
    for _ in $(seq 1 300); do id=$(converting_id); [ -n "$id" ] && break; sleep 0.1; done
  fi
  [ -n "$id" ] || { echo "no conversion started" >&2; exit 1; }
  echo "$id"
}

h_idle=(); s_idle=(); s_busy=(); p_busy=(); h_busy=(); nm_busy=(); seed_busy=(); seed_p99=(); partial=()
for run in $(seq 1 "$RUNS"); do
  read -r r _ < <(run_wrk "$INBOXD_URL/healthz" healthz-idle); h_idle+=("$r")
  read -r r _ < <(run_wrk "$INBOXD_URL/api/videos/$IID/status" status-idle); s_idle+=("$r")
  JOB=$(start_transcode)
  read -r r p < <(run_wrk "$INBOXD_URL/api/videos/$JOB/status" status-busy); s_busy+=("$r"); p_busy+=("$p")
  read -r r _ < <(run_wrk "$INBOXD_URL/healthz" healthz-busy); h_busy+=("$r")
  TAG=$(curl -sSI "$INBOXD_URL/api/videos/$IID/status" | awk -F': ' 'tolower($1)=="etag" {sub(/\r$/,"",$2); print $2}')
  read -r r _ < <(run_wrk "$INBOXD_URL/api/videos/$IID/status" status-304 -H "If-None-Match: $TAG"); nm_busy+=("$r")
  read -r r p < <(run_wrk "$SEED_URL/api/videos/$SID/status" seed-busy); seed_busy+=("$r"); seed_p99+=("$p")
  [ "$(converting_id)" = "$JOB" ] || partial+=("$run")
  printf 'run %s: inboxd idle healthz %s, status %s | busy status %s (p99 %s ms), healthz %s, 304 %s | seed busy %s (p99 %s ms)\n' \
    "$run" "${h_idle[-1]}" "${s_idle[-1]}" "${s_busy[-1]}" "${p_busy[-1]}" "${h_busy[-1]}" "${nm_busy[-1]}" "${seed_busy[-1]}" "${seed_p99[-1]}"
done
[ ${#partial[@]} = 0 ] || echo "note: the transcode ended during run(s) ${partial[*]}: a longer CLIP_SECONDS keeps the CPU busy throughout"

H=$(median "${h_idle[@]}"); S=$(median "${s_idle[@]}"); B=$(median "${s_busy[@]}"); P=$(median "${p_busy[@]}")
HB=$(median "${h_busy[@]}"); NM=$(median "${nm_busy[@]}"); SB=$(median "${seed_busy[@]}"); SP=$(median "${seed_p99[@]}")
echo "medians of $RUNS, wrk -t2 -c64 -d$DURATION: idle healthz $H, status $S req/s; transcode running: status $B req/s (p99 $P ms, spread $(spread "${s_busy[@]}")), healthz $HB, 304 $NM; seed $SB req/s (p99 $SP ms)"
result "status req/s, transcode running, vs inboxd /healthz idle" "$B" "$H" "$(ratio "$B" "$H")" ">= 0.8x" "$(meets "$(ratio "$B" "$H")" '>=' 0.8)"
result "status p99 ms, transcode running" "$P" "seed $SP" "$(ratio "$P" "$SP")" "< 5 ms" "$(meets "$P" '<' 5)"
result "status req/s, transcode running, vs FastAPI seed" "$B" "$SB" "$(ratio "$B" "$SB")" ">= 6x" "$(meets "$(ratio "$B" "$SB")" '>=' 6)"
result "status req/s idle (spread $(spread "${s_idle[@]}"))" "$S" "healthz $H" "$(ratio "$S" "$H")" "-" "n/a"
result "status 304 req/s, transcode running" "$NM" "200: $B" "$(ratio "$NM" "$B")" "-" "n/a"
result "healthz req/s, transcode running" "$HB" "idle $H" "$(ratio "$HB" "$H")" "-" "n/a"
