#!/usr/bin/env bash
# Times inboxd's bitrate ladder (one decode, four libx264 encoders on their own threads, one AAC encode) against
# the ffmpeg CLI doing the same ladder from one input: split=4 + scale + four libx264 encoders (and, as the CLI
# does, one AAC encoder per variant), the same preset, bit rates, VBV, forced key frames and segment length.
#   inboxd convert --config ladder.toml IN.mp4 OUT   vs   ffmpeg -filter_complex split=4… -f hls -var_stream_map …
# Input: SECONDS (60; 10 with QUICK=1) of 1080p30 H.264/AAC, generated once into $BENCH_DIR. ladder_copy_top is off
# so both sides encode every rung. Runs alternate (inboxd, CLI, inboxd, …) RUNS times (3; 1 with QUICK=1) and the
# medians are compared. Goal (issue 11): inboxd wall <= 0.8x the CLI. Build first: swift build -c release.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

INBOXD=${INBOXD:-${INBOXD_BIN:-.build/release/inboxd}}
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/inboxd-bench-ladder}
if [ "$QUICK" = 1 ]; then RUNS=${RUNS:-1}; SECONDS_LONG=${SECONDS_LONG:-10}
else RUNS=${RUNS:-3}; SECONDS_LONG=${SECONDS_LONG:-60}; fi
PRESET=veryfast

[ -x "$INBOXD" ] || { echo "missing $INBOXD: run 'swift build -c release --product inboxd'" >&2; exit 1; }
mkdir -p "$BENCH_DIR"
IN="$BENCH_DIR/h264-aac-1080p-$SECONDS_LONG.mp4"
OUT="$BENCH_DIR/out"
if [ ! -s "$IN" ]; then
    echo "generating $IN"
    ffmpeg -nostdin -y -v error -f lavfi -i "testsrc2=size=1920x1080:rate=30:duration=$SECONDS_LONG" \
        -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$SECONDS_LONG" -ac 2 -shortest \
        -c:v libx264 -preset veryfast -pix_fmt yuv420p -g 60 -b:v 8M -c:a aac -b:a 128k "$IN"
fi

# The rungs, as "height video_bitrate max_rate" (kbit/s); inboxd's default ladder.
RUNGS=("1080 5000 7500" "720 2800 4200" "480 1400 2100" "360 800 1200")
CONFIG="$BENCH_DIR/ladder.toml"
{
    echo "ladder_copy_top = false"
    for r in "${RUNGS[@]}"; do
        read -r h v m <<<"$r"
        printf '[[ladder]]\nheight = %s\nvideo_bitrate = "%sk"\nmax_rate = "%sk"\naudio_bitrate = "128k"\n' "$h" "$v" "$m"
    done
} > "$CONFIG"

filter="[0:v]split=${#RUNGS[@]}"
for i in "${!RUNGS[@]}"; do filter+="[s$i]"; done
maps=(); streams=""
for i in "${!RUNGS[@]}"; do
    read -r h v m <<<"${RUNGS[$i]}"
    filter+=";[s$i]scale=-2:$h[v$i]"
    maps+=(-map "[v$i]" -map 0:a:0 "-c:v:$i" libx264 "-b:v:$i" "${v}k" "-maxrate:v:$i" "${m}k" "-bufsize:v:$i" "$((2 * m))k")
    streams+="v:$i,a:$i,name:${h}p "
done

run_inboxd() { rm -rf "$OUT"; "$INBOXD" convert --config "$CONFIG" --segment-seconds 6 "$IN" "$OUT" >/dev/null; }
run_ffmpeg() {
    rm -rf "$OUT"; mkdir -p "$OUT"
    ffmpeg -nostdin -v error -i "$IN" -filter_complex "$filter" "${maps[@]}" -preset "$PRESET" -profile:v high \
        -pix_fmt yuv420p -sc_threshold 0 -force_key_frames 'expr:gte(t,n_forced*6)' -c:a aac -ar 48000 -ac 2 -b:a 128k \
        -f hls -hls_time 6 -hls_playlist_type vod -hls_flags independent_segments -master_pl_name master.m3u8 \
        -var_stream_map "${streams% }" -hls_segment_filename "$OUT/%v/seg_%05d.ts" "$OUT/%v/index.m3u8"
}

wall() { local t0 t1; t0=$(date +%s.%N); "$@"; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }

echo "ladder of ${#RUNGS[@]} rungs from ${SECONDS_LONG} s of 1080p30 H.264/AAC, x264 $PRESET; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $RUNS alternating runs"
run_inboxd; run_ffmpeg # warm-up: page cache, lazy loading
ours=(); theirs=()
for i in $(seq "$RUNS"); do
    a=$(wall run_inboxd); b=$(wall run_ffmpeg)
    printf '  run %d: inboxd %6.2f s  ffmpeg CLI %6.2f s  load %s\n' "$i" "$a" "$b" "$(cut -d' ' -f1 /proc/loadavg)"
    ours+=("$a"); theirs+=("$b")
done
mo=$(median "${ours[@]}"); mt=$(median "${theirs[@]}")
r=$(ratio "$mo" "$mt")
result "ladder 4 rungs ${SECONDS_LONG} s 1080p x264 $PRESET wall s (median of $RUNS, inboxd $(spread "${ours[@]}"), CLI $(spread "${theirs[@]}"))" \
    "$(printf '%.2f' "$mo")" "$(printf '%.2f' "$mt")" "$r" "<= 0.8x" "$(meets "$r" '<=' 0.8)"
