import Foundation
import GRDB
import Store
import TestSupport
import Testing

// The schema contract (fresh store, reopening, the status CHECK, the read-only status side) runs on both stores in
// `InboxDaemonTests/StoreSchemaTests`. These upgrades of legacy SQLite files stay SQLite-only: a PostgreSQL store
// never held the old web app's table or a v1 schema (it starts at the current one).
@Suite struct LegacyMigrationTests {
    /// The old web app's table: publication state lived in `status`.
    static let legacySchema = """
        CREATE TABLE videos (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          video_id TEXT UNIQUE NOT NULL,
          title TEXT NOT NULL,
          description TEXT,
          user_id INTEGER,
          status TEXT NOT NULL,
          video_url TEXT,
          thumbnail_url TEXT,
          created_at TEXT
        );
        INSERT INTO videos (video_id, title, description, user_id, status, video_url, thumbnail_url, created_at) VALUES
          ('11111111-1111-1111-1111-111111111111', 'pub', 'd', 7, 'published', 'https://cdn/x/master.m3u8', 'https://cdn/x/t.jpg', '2023-01-01T00:00:00Z'),
          ('22222222-2222-2222-2222-222222222222', 'dra', NULL, 7, 'draft', 'https://cdn/y/master.m3u8', NULL, '2023-01-02T00:00:00Z'),
          ('33333333-3333-3333-3333-333333333333', 'pri', NULL, 8, 'private', 'https://cdn/z/master.m3u8', NULL, '2023-01-03T00:00:00Z'),
          ('44444444-4444-4444-4444-444444444444', 'bad', NULL, 8, 'failed', 'processing', 'processing', '2023-01-04T00:00:00Z');
        """

    @Test func oldStatusValuesBecomeReadyWithThatVisibility() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let path = dir.path + "/legacy.db"
        try DatabaseQueue(path: path).write { try $0.execute(sql: Self.legacySchema) }

        let pool = try StoreDatabase.openWriter(path: path)
        let rows = try pool.read { try VideoRow.order(Column("created_at")).fetchAll($0) }
        #expect(rows.map(\.status) == [.ready, .ready, .ready, .failed])
        #expect(rows.map(\.visibility) == [.published, .draft, .private, .draft])
        #expect(rows[0].videoURL == "https://cdn/x/master.m3u8")
        #expect(rows[0].userID == "7")
        #expect(rows[0].phase == .done)
        #expect(rows[0].createdAt == "2023-01-01T00:00:00Z")
        #expect(try pool.read { try Int.fetchOne($0, sql: "PRAGMA user_version") } == Schema.version)
        #expect(try pool.read { try $0.tableExists("videos_legacy") } == false)
    }
}

@Suite struct FailureReasonMigrationTests {
    /// A db written by the first release (schema v1, no `failure_reason`) gains the column on open; rows it
    /// already had as failed say "other" (their reason was never recorded), the rest stay null.
    @Test func aVersionOneDbGainsTheColumnAndOldFailuresCountAsOther() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let path = dir.path + "/v1.db"
        let old = try DatabaseQueue(path: path)
        try Schema.migrator.migrate(old, upTo: "v1")
        try old.write { db in
            #expect(try Int.fetchOne(db, sql: "PRAGMA user_version") == 1)
            #expect(try db.columns(in: "videos").contains { $0.name == "failure_reason" } == false)
            try db.execute(sql: """
                INSERT INTO videos (video_id, title, status, error, created_at, updated_at) VALUES
                  ('a', 'broken', 'failed', 'no video stream in a.mp4', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'),
                  ('b', 'fine', 'ready', NULL, '2026-01-01T00:00:01Z', '2026-01-01T00:00:01Z')
                """)
        }
        try old.close()

        let pool = try StoreDatabase.openWriter(path: path)
        #expect(try pool.read { try Int.fetchOne($0, sql: "PRAGMA user_version") } == Schema.version)
        let reasons = try pool.read { try VideoRow.order(Column("video_id")).fetchAll($0).map(\.failureReason) }
        #expect(reasons == [.other, nil])
        #expect(FailureReason(rawValue: "other") != nil)
    }
}

@Suite struct TimestampTests {
    @Test func roundTripsTheContractFormat() {
        let d = Date(timeIntervalSince1970: 1_672_531_200)
        #expect(Timestamp.string(d) == "2023-01-01T00:00:00Z")
        #expect(Timestamp.date("2023-01-01T00:00:00Z") == d)
        #expect(Timestamp.date("2023-01-01 00:00:00") == nil)
    }
}
