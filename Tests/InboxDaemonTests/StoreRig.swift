import Foundation
import GRDB
import HTTPKit
@testable import InboxDaemon
import Logging
import PostgresNIO
import StatusAPI
import Store
import Testing
import TestSupport

/// The two job stores, for the store-level suites that run against both: the SQLite file (the embedded default) and
/// PostgreSQL (`[store] url`; a real server from `PostgresServer`, a fresh database per test).
enum StoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite, postgres
    var testDescription: String { rawValue }
}

/// A fresh store of either kind, what the status side reads from it, and an admin's SQL prompt on it.
struct StoreRig: Sendable {
    let kind: StoreKind
    let store: any JobStoring
    /// Takes the job's lease where the store has leases (PostgreSQL), as a node's puller does before running a job.
    let lease: @Sendable (String) async throws -> Void
    let reader: any StatusReading
    let listing: any VideoListing
    let users: any UserTokenLookup
    /// The `/metrics` totals.
    let totals: @Sendable () async throws -> VideoQueries.Totals
    /// Runs SQL as an admin would, with the store's own command-line client (`sqlite3` on the file, `psql` on the
    /// database): the rows `|`-separated, one a line. Throws when the statement is refused.
    let query: @Sendable (String) throws -> String
    /// Each runs SQL through one of the status side's own handles (the SQLite reader's connections, PostgreSQL's
    /// status pool), as a buggy route would.
    let statusSideWrites: [@Sendable (String) async throws -> Void]
    /// Opens the store again, as a restarted daemon does (its migrations run), then closes it.
    let reopen: @Sendable () async throws -> Void

    static let logger = Logger(label: "test.store")

    /// A statement the admin's client refused, with what it said.
    struct Refused: Error { let message: String }

    static func with(_ kind: StoreKind, node: String = "node-a", _ body: @Sendable (StoreRig) async throws -> Void) async throws {
        switch kind {
        case .sqlite:
            let dir = try TempDir("inboxd-store")
            defer { dir.remove() }
            let path = dir.path + "/inboxd.db"
            let store = try JobStore(path: path)
            let status = try StatusStore(path: path)
            let sqlite3 = try Shell.which("sqlite3")
            try await body(StoreRig(
                kind: kind, store: store, lease: { _ in }, reader: status, listing: status, users: SQLiteUsers(db: status.db),
                totals: { try await store.pool.read { try VideoQueries.totals($0) } },
                query: { sql in
                    let r = try Shell.run(sqlite3, ["-bail", "-cmd", ".timeout 5000", path, sql])
                    guard r.status == 0 else { throw Refused(message: r.stderr) }
                    return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                },
                statusSideWrites: [
                    // The serial reader of point reads, and the pool of the slow readers.
                    { sql in try await status.db.writeWithoutTransaction { try $0.execute(sql: sql) } },
                    { sql in try await status.bulk.writeWithoutTransaction { try $0.execute(sql: sql) } },
                ],
                reopen: { _ = try JobStore(path: path) }))
        case .postgres:
            let server = try PostgresServer.shared.get()
            let url = try server.database()
            try await PGJobStore.with(url: url, node: node, leaseSeconds: 30, logger: logger) { store in
                try await body(StoreRig(
                    kind: kind, store: store,
                    lease: { id in
                        let taken = try await store.take()
                        #expect(taken?.videoID == id)
                    },
                    reader: store, listing: store, users: store,
                    totals: { try await store.metricsSnapshot(afterEvent: 0).totals },
                    query: { try server.sql($0, url: url) },
                    statusSideWrites: [{ sql in try await store.reader.query(PostgresQuery(unsafeSQL: sql), logger: Self.logger) }],
                    reopen: { try await PGJobStore.with(url: url, node: "reopened", logger: logger) { _ in } }))
            }
        }
    }

    @discardableResult
    func sql(_ statement: String) throws -> String { try query(statement) }

    /// A table's columns in their order.
    func columns(_ table: String) throws -> [String] {
        let query = switch kind {
        case .sqlite: "SELECT name FROM pragma_table_info('\(table)') ORDER BY cid"
        case .postgres: "SELECT column_name FROM information_schema.columns WHERE table_name = '\(table)' ORDER BY ordinal_position"
        }
        return try sql(query).split(separator: "\n").map(String.init)
    }

    /// The names of the migrations applied to the store.
    func appliedMigrations() throws -> Set<String> {
        let query = switch kind {
        case .sqlite: "SELECT identifier FROM grdb_migrations"
        case .postgres: "SELECT name FROM schema_migrations"
        }
        return Set(try sql(query).split(separator: "\n").map(String.init))
    }

    /// The store's tables (SQLite's own and GRDB's bookkeeping left out).
    func tables() throws -> Set<String> {
        let query = switch kind {
        case .sqlite: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'grdb_migrations'"
        case .postgres: "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'schema_migrations'"
        }
        return Set(try sql(query).split(separator: "\n").map(String.init))
    }
}
