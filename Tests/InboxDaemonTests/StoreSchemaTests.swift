import Foundation
import GRDB
@testable import InboxDaemon
import PostgresNIO
import Store
import Testing
import TestSupport

/// The schema contract on both stores (`StoreKind`): a fresh store has the contract's columns and every migration,
/// both stores have the same tables and columns, reopening migrates nothing twice, the status CHECK refuses unknown
/// words from an admin's SQL, and the status side cannot write. The upgrades of legacy SQLite files (the old web app's
/// table, v1 dbs) stay SQLite-only in `StoreTests`: PostgreSQL stores start at the current schema.
@Suite(.serialized) struct StoreSchemaTests {
    static let contractColumns = [
        "video_id", "title", "description", "user_id", "username", "status", "visibility", "phase", "progress", "video_url",
        "thumbnail_url", "error", "failure_reason", "attempts", "source", "created_at", "updated_at", "started_at", "finished_at",
        "duration_s", "width", "height", "video_codec", "audio_codec", "size_bytes",
    ]

    @Test(arguments: StoreKind.allCases) func aFreshStoreGetsTheContractSchemaAndEveryMigration(kind: StoreKind) async throws {
        try await StoreRig.with(kind) { rig in
            let columns = Set(try rig.columns("videos"))
            for c in Self.contractColumns { #expect(columns.contains(c), "videos.\(c) missing") }
            #expect(Set(try rig.columns("events")).isSuperset(of: ["video_id", "at", "status", "phase", "message"]))
            let postgresOnly = kind == .postgres ? PGJobStore.postgresOnlyMigrations : []
            #expect(try rig.appliedMigrations() == Set(Schema.migrator.migrations).union(postgresOnly))
            if kind == .sqlite {  // SQLite's own settings: the version in the file header, WAL for readers beside the writer
                #expect(try rig.sql("PRAGMA user_version") == "\(Schema.version)")
                #expect(try rig.sql("PRAGMA journal_mode") == "wal")
            }
        }
    }

    /// "The same schema for both": every SQLite table exists on PostgreSQL with the same columns in the same order
    /// (the whole-row JSON of `GET /api/videos/{id}` follows the column order).
    @Test func bothStoresHaveTheSameTablesAndColumnsInTheSameOrder() async throws {
        try await StoreRig.with(.sqlite) { sqlite in
            try await StoreRig.with(.postgres) { pg in
                let tables = try sqlite.tables()
                #expect(tables.isSuperset(of: ["videos", "events", "users"]))
                #expect(try pg.tables().isSuperset(of: tables))
                for table in tables.sorted() {
                    #expect(try pg.columns(table) == sqlite.columns(table), "table \(table)")
                }
            }
        }
    }

    @Test(arguments: StoreKind.allCases) func reopeningMigratesNothingTwice(kind: StoreKind) async throws {
        try await StoreRig.with(kind) { rig in
            try await rig.store.recordClaim(VideoRow(videoID: "a", title: "t", source: .drop))
            let applied = try rig.appliedMigrations()
            try await rig.reopen()
            try await rig.reopen()
            #expect(try rig.sql("SELECT count(*) FROM videos") == "1")
            #expect(try rig.appliedMigrations() == applied)
            #expect(try await rig.store.row("a")?.title == "t")
        }
    }

    @Test(arguments: StoreKind.allCases) func theStatusCheckRejectsUnknownValuesFromAdminSQL(kind: StoreKind) async throws {
        try await StoreRig.with(kind) { rig in
            try await rig.store.recordClaim(VideoRow(videoID: "a", title: "t", source: .drop))
            #expect(throws: (any Error).self) { try rig.sql("UPDATE videos SET status = 'published'") }
            #expect(try rig.sql("SELECT status FROM videos") == "processing")
            // A known word is accepted, as the recovery SQL relies on.
            #expect(throws: Never.self) { try rig.sql("UPDATE videos SET status = 'failed'") }
        }
    }

    /// The status side reads through handles that cannot write, whatever a route's bug: SQLite's are opened
    /// read-only; PostgreSQL's pool starts its connections with `default_transaction_read_only`.
    @Test(arguments: StoreKind.allCases) func theStatusSideCannotWrite(kind: StoreKind) async throws {
        try await StoreRig.with(kind) { rig in
            try await rig.store.recordClaim(VideoRow(videoID: "a", title: "t", source: .http))
            #expect(try await rig.reader.videoJSON("a")?["title"] == "t".databaseValue)
            for write in rig.statusSideWrites {
                for sql in ["UPDATE videos SET title = 'x'", "DELETE FROM videos", "INSERT INTO events (video_id, at, status) VALUES ('a', 'x', 'failed')"] {
                    let error = await #expect(throws: (any Error).self) { try await write(sql) }
                    switch error {
                    case let e as DatabaseError: #expect(e.resultCode == .SQLITE_READONLY, "\(e)")
                    case let e as PSQLError: #expect(e.serverInfo?[.sqlState] == "25006", "read_only_sql_transaction: \(String(reflecting: e))")
                    default: Issue.record("not a read-only refusal: \(String(describing: error))")
                    }
                }
            }
            #expect(try rig.sql("SELECT title FROM videos") == "t")
            #expect(try rig.sql("SELECT count(*) FROM events") == "1")
            try await rig.reader.ping()
        }
    }
}
