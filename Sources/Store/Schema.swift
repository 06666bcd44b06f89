import GRDB

/// The db schema, versioned by named migrations (GRDB records them in `grdb_migrations`) and mirrored in
/// `PRAGMA user_version` so admins and scripts can see the version with plain `sqlite3`.
/// Shipped migrations are never edited; a change is a new migration.
public enum Schema {
    public static let version = 8

    public static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            // A db written by the old web app has a `videos` table but no migration record: keep its rows.
            let legacy = try db.tableExists("videos")
            if legacy { try db.execute(sql: "ALTER TABLE videos RENAME TO videos_legacy") }
            try createV1(db)
            if legacy {
                try LegacyImport.run(db)
                try db.execute(sql: "DROP TABLE videos_legacy")
            }
            try db.execute(sql: "PRAGMA user_version = 1")
        }
        m.registerMigration("v2: failure_reason") { db in
            try db.execute(sql: """
                ALTER TABLE videos ADD COLUMN failure_reason TEXT;
                UPDATE videos SET failure_reason = 'other' WHERE status = 'failed';
                CREATE INDEX videos_failed_by_reason ON videos(failure_reason) WHERE status = 'failed';
                PRAGMA user_version = 2;
                """)
        }
        m.registerMigration("v3: next_attempt_at") { db in
            // Deferred retries: a transient failure keeps the job `processing` in phase `retrying` until this time.
            try db.execute(sql: """
                ALTER TABLE videos ADD COLUMN next_attempt_at TEXT;
                CREATE INDEX videos_retrying ON videos(next_attempt_at) WHERE phase = 'retrying';
                PRAGMA user_version = 3;
                """)
        }
        m.registerMigration("v4: tus uploads") { db in
            // Resumable uploads: one row per tus upload, beside its job's `videos` row (same id). The data's durable
            // length is the file's size in `uploads/<id>/`; `upload_offset` is the last one recorded here.
            try db.execute(sql: """
                CREATE TABLE uploads (
                  video_id      TEXT PRIMARY KEY NOT NULL,
                  state         TEXT NOT NULL DEFAULT 'receiving'
                                CHECK (state IN ('receiving','complete','expired','terminated','lost')),
                  upload_length INTEGER NOT NULL,
                  upload_offset INTEGER NOT NULL DEFAULT 0,
                  metadata      TEXT NOT NULL DEFAULT '',
                  media_name    TEXT NOT NULL,
                  user_id       TEXT,
                  username      TEXT,
                  created_at    TEXT NOT NULL,
                  updated_at    TEXT NOT NULL,
                  expires_at    TEXT NOT NULL,
                  completed_at  TEXT
                );
                CREATE INDEX uploads_receiving ON uploads(expires_at) WHERE state = 'receiving';
                PRAGMA user_version = 4;
                """)
        }
        m.registerMigration("v5: webhook deliveries") { db in
            // The outbox of signed webhooks: a row is written in the transaction of the state change it reports, so
            // a change and its notification are committed together; the delivery service works the pending rows.
            try db.execute(sql: """
                CREATE TABLE webhook_deliveries (
                  id              INTEGER PRIMARY KEY AUTOINCREMENT,
                  event_id        TEXT NOT NULL,
                  event           TEXT NOT NULL CHECK (event IN ('video.processing','video.ready','video.failed')),
                  video_id        TEXT NOT NULL,
                  url             TEXT NOT NULL,
                  origin          TEXT NOT NULL CHECK (origin IN ('webhook','notify_url')),
                  body            TEXT NOT NULL,
                  state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending','delivered','failed')),
                  attempts        INTEGER NOT NULL DEFAULT 0,
                  last_status     INTEGER,
                  last_error      TEXT,
                  created_at      TEXT NOT NULL,
                  next_attempt_at TEXT,
                  retry_until     TEXT NOT NULL,
                  delivered_at    TEXT
                );
                CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE state = 'pending';
                CREATE INDEX webhook_deliveries_in_order ON webhook_deliveries(video_id, url, id) WHERE state = 'pending';
                PRAGMA user_version = 5;
                """)
        }
        m.registerMigration("v6: priorities and analytics") { db in
            // Queue management: a job's priority (capped by its user's max_priority when claimed) and per-user limits,
            // NULL meaning "the config's default". Analytics: per job, wall seconds per phase of its last attempt, CPU
            // seconds of its libav work, bytes in and out, and the speed factor (media seconds per wall second).
            try db.execute(sql: """
                ALTER TABLE videos ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE videos ADD COLUMN queued_s REAL;
                ALTER TABLE videos ADD COLUMN download_s REAL;
                ALTER TABLE videos ADD COLUMN probe_s REAL;
                ALTER TABLE videos ADD COLUMN convert_s REAL;
                ALTER TABLE videos ADD COLUMN upload_s REAL;
                ALTER TABLE videos ADD COLUMN cpu_s REAL;
                ALTER TABLE videos ADD COLUMN input_bytes INTEGER;
                ALTER TABLE videos ADD COLUMN output_bytes INTEGER;
                ALTER TABLE videos ADD COLUMN speed_factor REAL;
                CREATE INDEX videos_by_finished ON videos(finished_at);
                CREATE INDEX videos_by_user_status ON videos(username, status);
                ALTER TABLE users ADD COLUMN max_priority INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE users ADD COLUMN max_running_jobs INTEGER;
                ALTER TABLE users ADD COLUMN max_queued_jobs INTEGER;
                ALTER TABLE users ADD COLUMN uploads_per_minute INTEGER;
                ALTER TABLE users ADD COLUMN upload_bytes_per_hour INTEGER;
                PRAGMA user_version = 6;
                """)
        }
        m.registerMigration("v7: live preview") { db in
            // Watchable while converting: the master playlist's URL once it was first published while the job still
            // ran (kept when ready), and when that happened. `video_url` keeps the seed's meaning.
            try db.execute(sql: """
                ALTER TABLE videos ADD COLUMN preview_url TEXT;
                ALTER TABLE videos ADD COLUMN playable_at TEXT;
                PRAGMA user_version = 7;
                """)
        }
        m.registerMigration("v8: leases") { db in
            // Several nodes on one PostgreSQL store: the node running a job (`locked_by`) and until when its lease
            // holds (`lease_until`, renewed by its heartbeat). A single SQLite node leaves both NULL; the columns
            // exist here too so both stores have the same schema.
            try db.execute(sql: """
                ALTER TABLE videos ADD COLUMN locked_by TEXT;
                ALTER TABLE videos ADD COLUMN lease_until TEXT;
                PRAGMA user_version = 8;
                """)
        }
        return m
    }

    private static func createV1(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE videos (
              video_id      TEXT PRIMARY KEY NOT NULL,
              title         TEXT NOT NULL DEFAULT '',
              description   TEXT NOT NULL DEFAULT '',
              user_id       TEXT,
              username      TEXT,
              status        TEXT NOT NULL DEFAULT 'processing' CHECK (status IN ('processing','ready','failed')),
              visibility    TEXT NOT NULL DEFAULT 'draft' CHECK (visibility IN ('draft','private','published')),
              phase         TEXT NOT NULL DEFAULT 'queued',
              progress      REAL NOT NULL DEFAULT 0,
              video_url     TEXT NOT NULL DEFAULT 'processing',
              thumbnail_url TEXT NOT NULL DEFAULT 'processing',
              error         TEXT,
              attempts      INTEGER NOT NULL DEFAULT 0,
              source        TEXT NOT NULL DEFAULT 'drop',
              source_url    TEXT,
              sidecar       TEXT,
              created_at    TEXT NOT NULL,
              updated_at    TEXT NOT NULL,
              started_at    TEXT,
              finished_at   TEXT,
              duration_s    REAL,
              width         INTEGER,
              height        INTEGER,
              video_codec   TEXT,
              audio_codec   TEXT,
              size_bytes    INTEGER
            );
            CREATE INDEX videos_by_status ON videos(status, created_at, video_id);
            CREATE INDEX videos_by_created ON videos(created_at, video_id);
            CREATE TABLE events (
              id       INTEGER PRIMARY KEY AUTOINCREMENT,
              video_id TEXT NOT NULL,
              at       TEXT NOT NULL,
              status   TEXT NOT NULL,
              phase    TEXT,
              message  TEXT
            );
            CREATE INDEX events_by_video ON events(video_id, id);
            CREATE TABLE users (
              id         INTEGER PRIMARY KEY AUTOINCREMENT,
              username   TEXT NOT NULL UNIQUE,
              can_upload INTEGER NOT NULL DEFAULT 0,
              is_admin   INTEGER NOT NULL DEFAULT 0,
              token_hash TEXT NOT NULL UNIQUE,
              created_at TEXT NOT NULL,
              revoked_at TEXT
            );
            """)
    }
}

/// Copies rows of the old web app's `videos` table into the v1 table. The old design kept publication state in
/// `status` (`published`/`draft`/`private`); those rows were finished videos, so they become `status='ready'`
/// with that `visibility`. Columns are matched by name, so extra or missing legacy columns are tolerated.
enum LegacyImport {
    static func run(_ db: Database) throws {
        let columns = Set(try db.columns(in: "videos_legacy").map { $0.name.lowercased() })
        func col(_ name: String, _ fallback: String) -> String { columns.contains(name) ? name : fallback }
        let idExpr = columns.contains("video_id") ? "CAST(video_id AS TEXT)" : "CAST(id AS TEXT)"
        let now = Timestamp.string()
        let created = col("created_at", "'\(now)'")
        let updated = columns.contains("updated_at") ? "COALESCE(updated_at, \(created))" : created
        try db.execute(sql: """
            INSERT OR IGNORE INTO videos
              (video_id, title, description, user_id, username, status, visibility, phase, progress,
               video_url, thumbnail_url, error, source, created_at, updated_at, finished_at)
            SELECT \(idExpr),
                   COALESCE(\(col("title", "''")), ''),
                   COALESCE(\(col("description", "''")), ''),
                   CAST(\(col("user_id", "NULL")) AS TEXT),
                   \(col("username", "NULL")),
                   CASE WHEN status IN ('published','draft','private','ready') THEN 'ready'
                        WHEN status = 'processing' THEN 'processing'
                        ELSE 'failed' END,
                   CASE WHEN status IN ('published','draft','private') THEN status
                        ELSE \(columns.contains("visibility") ? "COALESCE(visibility, 'draft')" : "'draft'") END,
                   CASE WHEN status IN ('published','draft','private','ready') THEN 'done' ELSE 'queued' END,
                   CASE WHEN status IN ('published','draft','private','ready') THEN 1.0 ELSE 0.0 END,
                   COALESCE(\(col("video_url", "NULL")), 'processing'),
                   COALESCE(\(col("thumbnail_url", "NULL")), 'processing'),
                   CASE WHEN status IN ('published','draft','private','ready','processing','failed') THEN NULL
                        ELSE 'legacy status ' || quote(status) || ' is not known to inboxd' END,
                   'http', \(created), \(updated),
                   CASE WHEN status IN ('published','draft','private','ready') THEN \(updated) END
            FROM videos_legacy WHERE \(idExpr) IS NOT NULL
            """)
        try db.execute(sql: """
            INSERT INTO events (video_id, at, status, phase, message)
            SELECT video_id, ?, status, phase, 'migrated from the legacy schema' FROM videos
            """, arguments: [now])
    }
}
