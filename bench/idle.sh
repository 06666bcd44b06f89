#!/usr/bin/env bash
# Idle cost: inboxd and the FastAPI seed started on empty inboxes, left alone for IDLE_SECONDS (60; 15 with
# QUICK=1), then their resident memory (VmRSS, and /proc/PID/smaps_rollup split into anonymous memory and
# file-backed pages of mapped libraries) and CPU time spent while idle (utime+stime, per minute).
# Goals (issue 10): inboxd idle RSS < 30 MiB, CPU < 0.3 s/min.
source "$(dirname "$0")/fastapi_seed/servers.sh"
if [ "$QUICK" = 1 ]; then IDLE_SECONDS=${IDLE_SECONDS:-15}; else IDLE_SECONDS=${IDLE_SECONDS:-60}; fi
bench_prereqs
mkdir -p "$WORK"
start_inboxd
start_seed
TICK=$(getconf CLK_TCK)
cpu_s() { awk -v t="$TICK" '{ sub(/^.*\) /, ""); split($0, f, " "); printf "%.3f\n", (f[12] + f[13]) / t }' "/proc/$1/stat"; }
rss_mib() { awk '/^VmRSS/ {printf "%.1f\n", $2 / 1024}' "/proc/$1/status"; }
# "anon file pss" MiB from smaps_rollup: Anonymous, the rest of Rss (file-backed: libraries, mapped files), and Pss
# (shared pages divided among the processes mapping them).
rollup() { awk '/^Rss:/ {r=$2} /^Pss:/ {p=$2} /^Anonymous:/ {a=$2} END {printf "%.1f %.1f %.1f\n", a / 1024, (r - a) / 1024, p / 1024}' "/proc/$1/smaps_rollup"; }

c0_i=$(cpu_s "$INBOXD_PID"); c0_s=$(cpu_s "$SEED_PID")
sleep "$IDLE_SECONDS"
c1_i=$(cpu_s "$INBOXD_PID"); c1_s=$(cpu_s "$SEED_PID")
per_min() { awk -v a="$1" -v b="$2" -v s="$IDLE_SECONDS" 'BEGIN { printf "%.3f\n", (b - a) * 60 / s }'; }
cpu_i=$(per_min "$c0_i" "$c1_i"); cpu_s_=$(per_min "$c0_s" "$c1_s")
rss_i=$(rss_mib "$INBOXD_PID"); rss_s=$(rss_mib "$SEED_PID")
read -r anon_i file_i pss_i < <(rollup "$INBOXD_PID"); read -r anon_s file_s pss_s < <(rollup "$SEED_PID")
echo "idle $IDLE_SECONDS s: inboxd RSS $rss_i MiB (anon $anon_i, file-backed $file_i; PSS $pss_i), CPU $cpu_i s/min | FastAPI seed RSS $rss_s MiB (anon $anon_s, file $file_s; PSS $pss_s), CPU $cpu_s_ s/min"
echo "inboxd smaps_rollup:"; sed 's/^/  /' "/proc/$INBOXD_PID/smaps_rollup"
result "idle RSS MiB ($IDLE_SECONDS s; anon $anon_i + file $file_i)" "$rss_i" "seed $rss_s" "$(ratio "$rss_i" "$rss_s")" "< 30 MiB" "$(meets "$rss_i" '<' 30)"
result "idle CPU s/min" "$cpu_i" "seed $cpu_s_" "$(ratio "$cpu_i" "$cpu_s_")" "< 0.3 s/min" "$(meets "$cpu_i" '<' 0.3)"
