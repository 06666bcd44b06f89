#!/usr/bin/env bash
# Resumable (tus) upload against the multipart route: SIZE_MIB (default 1 GiB) of random bytes to the same inboxd,
# RUNS times each, as `curl -F` (one multipart POST), as tus PATCHes of CHUNK_MIB (default 8) MiB sent by curl
# (a POST creation, then one PATCH per chunk, each durable before its 204), and by tuspy (the official Python client).
# Prints MiB/s and the daemon's peak RSS (VmHWM, reset before each upload) per run, then the tus/multipart ratios.
# Needs a release build (or INBOXD_BIN).
source "$(dirname "$0")/fastapi_seed/servers.sh"
RUNS=${RUNS:-3}
SIZE_MIB=${SIZE_MIB:-1024}
CHUNK_MIB=${CHUNK_MIB:-8}
[ -x "$BIN" ] || { echo "build first: swift build -c release --product inboxd" >&2; exit 1; }
python3 -c 'import tusclient' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check tuspy
mkdir -p "$WORK"
FILE=$WORK/upload-${SIZE_MIB}M.bin
[ -f "$FILE" ] || head -c "$((SIZE_MIB << 20))" /dev/urandom > "$FILE"
SIZE=$(stat -c %s "$FILE")
CHUNK=$((CHUNK_MIB << 20))
TUSPY="$ROOT/Tests/Support/fixtures/tus_upload.py"
META="title $(printf bench | base64),filename $(printf bench.mp4 | base64)"

start_inboxd

now() { date +%s.%N; }
rate() { awk -v s="$SIZE" -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", s / 1048576 / (b - a) }'; }

multipart() {
  local t0 t1 code
  t0=$(now)
  code=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -F "video=@$FILE;type=video/mp4" -F title=bench "$INBOXD_URL/api/videos/")
  t1=$(now)
  [ "$code" = 202 ] || { echo "multipart upload answered $code" >&2; exit 1; }
  rate "$t0" "$t1"
}

tus_curl() {
  local t0 t1 location offset=0 answer
  t0=$(now)
  location=$(curl -sS -o /dev/null -D - -X POST -H "Authorization: Bearer $TOKEN" -H "Tus-Resumable: 1.0.0" \
    -H "Upload-Length: $SIZE" -H "Upload-Metadata: $META" "$INBOXD_URL/api/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
  [ -n "$location" ] || { echo "tus creation failed" >&2; exit 1; }
  while [ "$offset" -lt "$SIZE" ]; do
    answer=$(tail -c +"$((offset + 1))" "$FILE" | head -c "$CHUNK" | curl -sS -o /dev/null -D - -X PATCH -T - \
      -H "Authorization: Bearer $TOKEN" -H "Tus-Resumable: 1.0.0" -H "Upload-Offset: $offset" -H "Expect:" \
      -H "Content-Type: application/offset+octet-stream" "$INBOXD_URL$location" | tr -d '\r')
    offset=$(printf '%s\n' "$answer" | sed -n 's/^[Uu]pload-[Oo]ffset: //p')
    [ -n "$offset" ] || { echo "PATCH failed: $answer" >&2; exit 1; }
  done
  t1=$(now)
  rate "$t0" "$t1"
}

tus_tuspy() {
  local t0 t1
  t0=$(now)
  python3 "$TUSPY" "$INBOXD_URL/api/uploads/" "$TOKEN" "$FILE" --chunk "$CHUNK" --metadata '{"title": "bench"}' >/dev/null
  t1=$(now)
  rate "$t0" "$t1"
}

declare -A best peak
printf '%-22s %-4s %8s %14s\n' route run "MiB/s" "peak RSS MiB"
for run in $(seq 1 "$RUNS"); do
  for kind in multipart tus_curl tus_tuspy; do
    reset_peak "$INBOXD_PID"
    r=$($kind)
    p=$(peak_mib "$INBOXD_PID")
    printf '%-22s %-4s %8s %14s\n' "$kind" "$run" "$r" "$p"
    best[$kind]=$(( r > ${best[$kind]:-0} ? r : ${best[$kind]:-0} ))
    peak[$kind]=$(awk -v a="${peak[$kind]:-0}" -v b="$p" 'BEGIN { print (b > a ? b : a) }')
    sleep 1; rm -rf "$WORK"/inboxd/inbox/failed/* "$WORK"/inboxd/inbox/incoming/*  # the worker fails the random "video" at once
  done
done
echo
echo "upload ${SIZE_MIB} MiB, best of $RUNS (tus in ${CHUNK_MIB} MiB chunks):"
for kind in multipart tus_curl tus_tuspy; do echo "  $kind: ${best[$kind]} MiB/s, peak RSS ${peak[$kind]} MiB"; done
awk -v m="${best[multipart]}" -v c="${best[tus_curl]}" -v t="${best[tus_tuspy]}" -v pm="${peak[multipart]}" -v pc="${peak[tus_curl]}" \
  'BEGIN { printf "throughput tus(curl)/multipart: %.2fx, tus(tuspy)/multipart: %.2fx; peak RSS tus(curl)/multipart: %.2fx\n", c / m, t / m, pc / pm }'
for kind in tus_curl tus_tuspy; do
  result "upload ${SIZE_MIB} MiB, $kind in ${CHUNK_MIB} MiB chunks vs multipart, MiB/s (best of $RUNS)" "${best[$kind]}" "${best[multipart]}" "$(ratio "${best[$kind]}" "${best[multipart]}")" "-" "n/a"
done
result "upload ${SIZE_MIB} MiB, tus_curl vs multipart, peak RSS MiB" "${peak[tus_curl]}" "${peak[multipart]}" "$(ratio "${peak[tus_curl]}" "${peak[multipart]}")" "-" "n/a"
