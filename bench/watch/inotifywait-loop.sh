#!/usr/bin/env bash
# The hand-rolled alternative to inboxd's watcher: an inotifywait loop that claims a drop when its sidecar is
# closed or renamed in, by moving media + sidecar into processing/<uuid>/ and inserting a row with sqlite3 — what an
# operator would write around ffmpeg and cron. usage: inotifywait-loop.sh INBOX DB
set -u
IN=$1/incoming P=$1/processing DB=$2
mkdir -p "$P"
sqlite3 "$DB" "PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS videos (video_id TEXT PRIMARY KEY, title TEXT, status TEXT, created_at TEXT);" >/dev/null
inotifywait -m -q -e close_write -e moved_to --format '%w%f' "$IN" | while read -r f; do
  name=${f##*/}
  case "$name" in .*) continue ;; *.json) ;; *) continue ;; esac
  media=${f%.json}
  [ -f "$media" ] || continue
  id=$(cat /proc/sys/kernel/random/uuid)
  mkdir "$P/$id" && mv "$f" "$media" "$P/$id/" || continue
  sqlite3 "$DB" "INSERT INTO videos VALUES ('$id', 'drop', 'processing', strftime('%Y-%m-%dT%H:%M:%SZ','now'));"
done
