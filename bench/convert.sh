#!/usr/bin/env bash
# Times inboxd's in-process HLS conversion against the ffmpeg CLI a user would run instead:
#   remux:     inboxd convert IN.mp4 OUT   vs  ffmpeg -c copy -f hls …
#   transcode: inboxd convert IN.webm OUT  vs  ffmpeg -c:v libx264 -preset veryfast -b:v 5000k … -c:a aac … -f hls …
# inboxd runs with a one-rung ladder (1080p, 5000k, max 7500k), so it does the same single rendition as the CLI
# (bench/ladder.sh times the whole ladder).
# Inputs (REMUX_SECONDS=600 s 1080p30 H.264/AAC MP4 and SECONDS_LONG=60 s VP9/Opus WebM; 30 s and 10 s with
# QUICK=1) are generated once into $BENCH_DIR. Goals (issue 10): remux wall <= 0.85x the CLI; transcode wall and
# peak RSS <= 1.0x the CLI (peak RSS from one extra run under /usr/bin/time).
# RUNS (default 5) timed runs of each side, alternating, medians, after WARMUP (default 1) untimed ones; ONLY=remux or
# ONLY=transcode runs one scenario. Build first: swift build -c release.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

INBOXD=${INBOXD:-${INBOXD_BIN:-.build/release/inboxd}}
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/inboxd-bench-convert}
if [ "$QUICK" = 1 ]; then RUNS=${RUNS:-1}; WARMUP=${WARMUP:-0}; SECONDS_LONG=${SECONDS_LONG:-10}; REMUX_SECONDS=${REMUX_SECONDS:-30}
else RUNS=${RUNS:-5}; WARMUP=${WARMUP:-1}; SECONDS_LONG=${SECONDS_LONG:-60}; REMUX_SECONDS=${REMUX_SECONDS:-600}; fi

[ -x "$INBOXD" ] || { echo "missing $INBOXD: run 'swift build -c release --product inboxd'" >&2; exit 1; }
mkdir -p "$BENCH_DIR"
H264="$BENCH_DIR/h264-aac-1080p-$REMUX_SECONDS.mp4"
VP9="$BENCH_DIR/vp9-opus-1080p-$SECONDS_LONG.webm"
OUT="$BENCH_DIR/out"

src=(-f lavfi -i "testsrc2=size=1920x1080:rate=30:duration=$SECONDS_LONG"
     -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$SECONDS_LONG" -ac 2 -shortest)
if [ ! -s "$H264" ]; then
    echo "generating $H264"
    ffmpeg -nostdin -y -v error -f lavfi -i "testsrc2=size=1920x1080:rate=30:duration=$REMUX_SECONDS" \
        -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$REMUX_SECONDS" -ac 2 -shortest -c:v libx264 -preset veryfast -pix_fmt yuv420p -g 60 -b:v 8M \
        -c:a aac -b:a 128k "$H264"
fi
if [ ! -s "$VP9" ]; then
    echo "generating $VP9 (takes a minute)"
    ffmpeg -nostdin -y -v error "${src[@]}" -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -row-mt 1 -b:v 4M -g 60 \
        -c:a libopus -b:a 128k "$VP9"
fi

CONFIG="$BENCH_DIR/one-rung.toml"
printf '[[ladder]]\nheight = 1080\nvideo_bitrate = "5000k"\nmax_rate = "7500k"\n' > "$CONFIG"
inboxd_convert() { rm -rf "$OUT"; "$INBOXD" convert --config "$CONFIG" "$1" "$OUT" >/dev/null; }
ffmpeg_remux() {
    rm -rf "$OUT"; mkdir -p "$OUT"
    ffmpeg -nostdin -v error -i "$1" -map 0:v:0 -map 0:a:0 -c copy -muxdelay 0.7 -f hls -hls_time 6 \
        -hls_playlist_type vod -hls_segment_filename "$OUT/seg_%05d.ts" "$OUT/index.m3u8"
}
ffmpeg_transcode() {
    rm -rf "$OUT"; mkdir -p "$OUT"
    ffmpeg -nostdin -v error -i "$1" -map 0:v:0 -map 0:a:0 -c:v libx264 -preset veryfast -b:v 5000k -maxrate 7500k -bufsize 15000k -pix_fmt yuv420p \
        -force_key_frames 'expr:gte(t,n_forced*6)' -c:a aac -ar 48000 -ac 2 -b:a 128k -f hls -hls_time 6 \
        -hls_playlist_type vod -hls_segment_filename "$OUT/seg_%05d.ts" "$OUT/index.m3u8"
}
export -f inboxd_convert ffmpeg_remux ffmpeg_transcode
export INBOXD OUT CONFIG

# One timed run of a command; prints "WALL CPU" (seconds; CPU = user+sys, children included). Each run starts with
# the previous one's output removed and the disk idle: 600 MB of dirty pages (or their removal) otherwise land in the
# next run, whichever side it is, and swing a 0.5 s remux by ±0.4 s.
timed_run() {
    local TIMEFORMAT='%R %U %S' t r u s
    rm -rf "$OUT"; sync
    t=$( { time bash -c "$1" >/dev/null 2>&1; } 2>&1 )
    read -r r u s <<<"$t"
    printf '  %-50s wall %6.2f s  cpu %6.2f s  load %s\n' "$1" "$r" "$(echo "$u + $s" | bc -l)" \
        "$(cut -d' ' -f1 /proc/loadavg)" >&2
    echo "$r $(echo "$u + $s" | bc -l)"
}

# Prints "A_WALL A_CPU B_WALL B_CPU SPREAD_A SPREAD_B": medians of RUNS runs of each command, alternating A and B
# (after WARMUP untimed runs of each: page cache, lazy loading), so a change in the machine's state hits both sides.
measure_pair() {
    local aw=() ac=() bw=() bc=() w c
    for _ in $(seq "$WARMUP"); do bash -c "$1" >/dev/null 2>&1; bash -c "$2" >/dev/null 2>&1; done
    for _ in $(seq "$RUNS"); do
        read -r w c <<<"$(timed_run "$1")"; aw+=("$w"); ac+=("$c")
        read -r w c <<<"$(timed_run "$2")"; bw+=("$w"); bc+=("$c")
    done
    echo "$(median "${aw[@]}") $(median "${ac[@]}") $(median "${bw[@]}") $(median "${bc[@]}") $(spread "${aw[@]}") $(spread "${bw[@]}")"
}

# Peak RSS in MiB of one run of a command (GNU time's %M, children included).
peak_rss() { /usr/bin/time -f '%M' -o "$BENCH_DIR/rss" bash -c "$1" >/dev/null 2>&1; awk '{printf "%.1f\n", $1 / 1024}' "$BENCH_DIR/rss"; }

report() { # name, inboxd command, ffmpeg command, wall goal (ratio)
    local aw ac bw bc sa sb ar br
    read -r aw ac bw bc sa sb <<<"$(measure_pair "$2" "$3")"
    printf '%-30s inboxd wall %6.2f s (%s) cpu %6.2f s | ffmpeg CLI wall %6.2f s (%s) cpu %6.2f s | inboxd/ffmpeg wall %.2f cpu %.2f\n' \
        "$1" "$aw" "$sa" "$ac" "$bw" "$sb" "$bc" "$(echo "$aw / $bw" | bc -l)" "$(echo "$ac / $bc" | bc -l)"
    local wr; wr=$(ratio "$aw" "$bw")
    result "$1 wall s (median of $RUNS alternating; cpu ratio $(ratio "$ac" "$bc"))" "$(printf '%.2f' "$aw")" "$(printf '%.2f' "$bw")" "$wr" "<= ${4}x" "$(meets "$wr" '<=' "$4")"
    if [[ $1 == transcode* ]]; then
        ar=$(peak_rss "$2"); br=$(peak_rss "$3")
        result "$1 peak RSS MiB" "$ar" "$br" "$(ratio "$ar" "$br")" "<= 1.0x" "$(meets "$(ratio "$ar" "$br")" '<=' 1.0)"
    fi
}

echo "remux ${REMUX_SECONDS} s, transcode ${SECONDS_LONG} s of 1080p30; $(nproc) cores, $(ffmpeg -version | head -1 | cut -d' ' -f1-3), $RUNS runs each"
[ "${ONLY:-remux}" != remux ] || report "remux ${REMUX_SECONDS} s 1080p" "inboxd_convert $H264" "ffmpeg_remux $H264" 0.85
[ "${ONLY:-transcode}" != transcode ] || report "transcode ${SECONDS_LONG} s 1080p VP9→x264 veryfast" "inboxd_convert $VP9" "ffmpeg_transcode $VP9" 1.0
