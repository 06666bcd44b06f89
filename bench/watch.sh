#!/usr/bin/env bash
# Drop-to-claim speed: inboxd's watcher beside the hand-rolled alternative, an inotifywait loop that moves the pair
# and inserts a row with sqlite3 (bench/watch/inotifywait-loop.sh). Two measures, same driver for both
# (bench/watch/driver.py): latency of single drops (sidecar closed → sidecar renamed away) and the time to claim a
# burst of drops written as fast as possible. inboxd also converts what it claims (1 worker, 1 s clips), the loop
# does nothing more, so the burst is the harder case for inboxd. Needs a release build.
source "$(dirname "$0")/fastapi_seed/servers.sh"
N_LAT=${N_LAT:-200}
N_BURST=${N_BURST:-500}
[ -x "$BIN" ] || { echo "build first: swift build -c release --product inboxd" >&2; exit 1; }
command -v inotifywait >/dev/null || { echo "installing inotify-tools"; apt-get install -y -q inotify-tools >/dev/null || sudo apt-get install -y -q inotify-tools >/dev/null; }
mkdir -p "$WORK"
MEDIA=$WORK/watch-clip.mp4
[ -f "$MEDIA" ] || ffmpeg -v error -y -f lavfi -i testsrc=size=64x48:rate=25 -f lavfi -i sine -t 1 \
  -c:v libx264 -pix_fmt yuv420p -c:a aac "$MEDIA"
DRIVER="python3 $ROOT/bench/watch/driver.py"

start_inboxd
lat=$($DRIVER "$WORK/inboxd/inbox/incoming" "$MEDIA" latency "$N_LAT"); read -r i50 i90 i99 imax <<< "$lat"
i_burst=$($DRIVER "$WORK/inboxd/inbox/incoming" "$MEDIA" burst "$N_BURST")
kill "$INBOXD_PID"; wait "$INBOXD_PID" 2>/dev/null || true

LOOP=$WORK/loop
rm -rf "$LOOP" && mkdir -p "$LOOP/inbox/incoming"
setsid "$ROOT/bench/watch/inotifywait-loop.sh" "$LOOP/inbox" "$LOOP/db.sqlite" > "$LOOP/log" 2>&1 &
LOOP_PID=$!; trap 'kill -- -"$LOOP_PID" 2>/dev/null; stop_all' EXIT; sleep 0.5
lat=$($DRIVER "$LOOP/inbox/incoming" "$MEDIA" latency "$N_LAT"); read -r l50 l90 l99 lmax <<< "$lat"
l_burst=$($DRIVER "$LOOP/inbox/incoming" "$MEDIA" burst "$N_BURST")
kill -- -"$LOOP_PID" 2>/dev/null || true
rows=$(sqlite3 "$LOOP/db.sqlite" "SELECT count(*) FROM videos")
rm -rf "$LOOP"

printf '%-16s %9s %9s %9s %9s %16s\n' watcher "p50 ms" "p90 ms" "p99 ms" "max ms" "burst $N_BURST s"
printf '%-16s %9s %9s %9s %9s %16s\n' inboxd "$i50" "$i90" "$i99" "$imax" "$i_burst"
printf '%-16s %9s %9s %9s %9s %16s\n' inotifywait-loop "$l50" "$l90" "$l99" "$lmax" "$l_burst"
echo "(the loop recorded $rows rows for $((N_LAT + N_BURST)) drops)"
awk -v a="$i50" -v b="$l50" -v c="$i_burst" -v d="$l_burst" -v n="$N_BURST" 'BEGIN {
  printf "latency p50 ratio loop/inboxd: %.2fx; burst: inboxd %.0f drops/s, loop %.0f drops/s, ratio %.2fx\n", b / a, n / c, n / d, d / c }'
