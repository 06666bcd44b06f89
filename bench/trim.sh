#!/usr/bin/env bash
# The memory trim (`trim_memory`, issue 10): inboxd started on an empty inbox with the trim on and off, left quiet
# until the trim has run (trim_memory_after_seconds = 2), then its resident memory (Rss, Pss, Anonymous of
# /proc/PID/smaps_rollup) and the cost of the first requests after it: latency of the first and second `/status`
# answers and the minor faults the first one took (the dropped code pages mapped again from the page cache).
# RUNS (3; 1 with QUICK=1) alternating runs each; prints every run.
source "$(dirname "$0")/fastapi_seed/servers.sh"
if [ "$QUICK" = 1 ]; then RUNS=${RUNS:-1}; else RUNS=${RUNS:-3}; fi
[ -x "$BIN" ] || { echo "build first: swift build -c release --product inboxd" >&2; exit 1; }
mkdir -p "$WORK"
rollup() { awk '/^Rss:/ {r=$2} /^Pss:/ {p=$2} /^Anonymous:/ {a=$2} END {printf "%.1f %.1f %.1f\n", r/1024, p/1024, a/1024}' "/proc/$1/smaps_rollup"; }
minflt() { awk '{ sub(/^.*\) /, ""); split($0, f, " "); print f[8] }' "/proc/$1/stat"; }
ms() { curl -sS -o /dev/null -w '%{time_total}' "$INBOXD_URL/api/videos/$(cat /proc/sys/kernel/random/uuid)/status" | awk '{printf "%.2f", $1 * 1000}'; }
printf '%-5s %-4s %8s %8s %8s %14s %10s %10s\n' trim run "RSS MiB" "PSS MiB" "anon MiB" "1st req ms" "faults" "2nd req ms"
rss_on=(); rss_off=()
for run in $(seq 1 "$RUNS"); do
  for mode in true false; do
    INBOXD_EXTRA_TOML=$'trim_memory = '"$mode"$'\ntrim_memory_after_seconds = 2'
    start_inboxd
    sleep 4  # quiet for trim_memory_after_seconds after the last request (user add's), then one trim
    read -r rss pss anon < <(rollup "$INBOXD_PID")
    f0=$(minflt "$INBOXD_PID"); first=$(ms); f1=$(minflt "$INBOXD_PID"); second=$(ms)
    printf '%-5s %-4s %8s %8s %8s %14s %10s %10s\n' "$mode" "$run" "$rss" "$pss" "$anon" "$first" "$((f1 - f0))" "$second"
    if [ "$mode" = true ]; then rss_on+=("$rss"); else rss_off+=("$rss"); fi
    kill "$INBOXD_PID"; wait "$INBOXD_PID" 2>/dev/null || true
  done
done
on=$(median "${rss_on[@]}"); off=$(median "${rss_off[@]}")
result "RSS after a quiet spell, trim_memory on vs off (MiB)" "$on" "off $off" "$(ratio "$on" "$off")" "< 30 MiB" "$(meets "$on" '<' 30)"
