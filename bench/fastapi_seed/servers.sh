# Shared by bench/upload.sh and bench/status.sh: start/stop inboxd (release build) and the FastAPI seed on a
# scratch directory, and read a process's peak RSS. Source it; it sets INBOXD_URL, SEED_URL, TOKEN, WORK.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${INBOXD_BIN:-$ROOT/.build/release/inboxd}
WORK=${BENCH_DIR:-$ROOT/.tmp/bench}
INBOXD_PORT=${INBOXD_PORT:-18301}
SEED_PORT=${SEED_PORT:-18302}
INBOXD_URL=http://127.0.0.1:$INBOXD_PORT
SEED_URL=http://127.0.0.1:$SEED_PORT
PIDS=()

bench_prereqs() {
  [ -x "$BIN" ] || { echo "build first: swift build -c release --product inboxd" >&2; exit 1; }
  command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y -q wrk >/dev/null || sudo apt-get install -y -q wrk >/dev/null; }
  python3 -c 'import fastapi, uvicorn, multipart' 2>/dev/null \
    || python3 -m pip install -q --disable-pip-version-check fastapi uvicorn python-multipart
}

wait_http() { for _ in $(seq 1 100); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

start_inboxd() {
  rm -rf "$WORK/inboxd" && mkdir -p "$WORK/inboxd/inbox/incoming"
  cat > "$WORK/inboxd/inboxd.toml" <<TOML
inbox = "$WORK/inboxd/inbox"
db = "$WORK/inboxd/inboxd.db"
output = "$WORK/inboxd/output"
listen = "127.0.0.1:$INBOXD_PORT"
workers = 1
max_upload_bytes = 4294967296
min_free_bytes = 0
log_level = "warning"
${INBOXD_EXTRA_TOML:-}
TOML
  # The open-file limit of the packaged unit (LimitNOFILE), for the connection benches; queued jobs cost no descriptor.
  # Raising it needs root; else inboxd runs with the hard limit it is given.
  (ulimit -n "${INBOXD_NOFILE:-65536}" 2>/dev/null || true; exec "$BIN" run --config "$WORK/inboxd/inboxd.toml") > "$WORK/inboxd/log" 2>&1 &
  INBOXD_PID=$!; PIDS+=("$INBOXD_PID")
  wait_http "$INBOXD_URL/healthz"
  TOKEN=$("$BIN" user add bench --upload --config "$WORK/inboxd/inboxd.toml" | tail -1)
}

start_seed() {
  rm -rf "$WORK/seed" && mkdir -p "$WORK/seed/uploads"
  (cd "$ROOT/bench/fastapi_seed" && SEED_UPLOAD_DIR="$WORK/seed/uploads" SEED_DB="$WORK/seed/seed.db" SEED_TOKEN=bench-token \
    exec python3 -m uvicorn app:app --host 127.0.0.1 --port "$SEED_PORT" --log-level warning) > "$WORK/seed/log" 2>&1 &
  SEED_PID=$!; PIDS+=("$SEED_PID")
  wait_http "$SEED_URL/docs"
}

stop_all() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK/inboxd" "$WORK/seed"  # uploads of up to GiBs each
}
trap stop_all EXIT

# Peak resident set (VmHWM) in MiB; `reset_peak` starts a new measurement (clear_refs 5).
peak_mib() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
reset_peak() { echo 5 > "/proc/$1/clear_refs"; }
# Current anonymous (heap, stacks) and file-backed (mapped libraries) resident memory, "anon/file" in MiB.
rss_split() { awk '/RssAnon/ {a=$2} /RssFile/ {f=$2} END {printf "%.1f/%.1f", a/1024, f/1024}' "/proc/$1/status"; }
