"""The seed's upload path, reduced to what the benchmark compares: FastAPI + uvicorn, an `UploadFile` saved to
disk, a db row, a `BackgroundTasks` job, and the status route the front end polls. Run by bench/upload.sh and
bench/status.sh; not part of inboxd."""
import os
import shutil
import sqlite3
import uuid
from datetime import datetime, timezone

from fastapi import BackgroundTasks, FastAPI, File, Form, Header, HTTPException, UploadFile
from fastapi.responses import JSONResponse

UPLOAD_DIR = os.environ.get("SEED_UPLOAD_DIR", "/tmp/fastapi-seed-uploads")
DB = os.environ.get("SEED_DB", "/tmp/fastapi-seed.db")
TOKEN = os.environ.get("SEED_TOKEN", "bench-token")
os.makedirs(UPLOAD_DIR, exist_ok=True)

app = FastAPI()


def db():
    c = sqlite3.connect(DB, timeout=10)
    c.execute("PRAGMA journal_mode=WAL")
    return c


with db() as c:
    c.execute("""CREATE TABLE IF NOT EXISTS videos (video_id TEXT PRIMARY KEY, title TEXT, description TEXT,
                 status TEXT, video_url TEXT, thumbnail_url TEXT, created_at TEXT, user_id TEXT, username TEXT)""")


def now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def process_video(video_id: str, path: str):
    # The seed converted to HLS and uploaded to S3 here; the benchmark measures the HTTP side only.
    with db() as c:
        c.execute("UPDATE videos SET status='ready' WHERE video_id=?", (video_id,))


@app.post("/api/videos/", status_code=202)
async def upload_video(
    background_tasks: BackgroundTasks,
    video: UploadFile = File(...),
    title: str = Form(...),
    description: str = Form(""),
    visibility: str = Form("draft"),
    authorization: str = Header(None),
):
    if authorization != f"Bearer {TOKEN}":
        raise HTTPException(status_code=401, detail="unauthorized")
    video_id = str(uuid.uuid4())
    path = os.path.join(UPLOAD_DIR, f"{video_id}.mp4")
    with open(path, "wb") as f:
        shutil.copyfileobj(video.file, f, 1 << 20)
    row = dict(video_id=video_id, title=title, description=description, status="processing",
               video_url="processing", thumbnail_url="processing", created_at=now(), user_id="1", username="bench")
    with db() as c:
        c.execute("INSERT INTO videos VALUES (:video_id,:title,:description,:status,:video_url,:thumbnail_url,"
                  ":created_at,:user_id,:username)", row)
    background_tasks.add_task(process_video, video_id, path)
    return JSONResponse(row, status_code=202)


@app.get("/api/videos/{video_id}/status")
def video_status(video_id: str):
    with db() as c:
        r = c.execute("SELECT video_id, status, title, created_at FROM videos WHERE video_id=?", (video_id,)).fetchone()
    if r is None:
        raise HTTPException(status_code=404, detail="not found")
    return {"video_id": r[0], "status": r[1], "title": r[2], "created_at": r[3]}
