import Foundation
import GRDB

public enum StoreError: Error, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case notADatabase(path: String)
    case newerSchema(path: String, version: Int)
    case missingDirectory(path: String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason): "cannot open database \(path): \(reason)"
        case .notADatabase(let path): "db \(path) is not an SQLite database (check the `db` setting)"
        case .newerSchema(let path, let version):
            "db \(path) has schema version \(version), newer than this inboxd knows (\(Schema.version)); run a newer inboxd"
        case .missingDirectory(let path): "the db's directory \(path) does not exist (check the `db` setting)"
        }
    }
}

/// The one way to open the job db.
public enum StoreDatabase {
    /// The daemon's single writer: WAL (readers never block it), a busy timeout so a second daemon or an
    /// admin's `sqlite3` sharing the file waits instead of failing, and every migration applied.
    public static func openWriter(path: String) throws -> DatabasePool {
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.label = "inboxd.writer"
        let dir = (path as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        guard dir.isEmpty || (FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory) && isDirectory.boolValue) else {
            throw StoreError.missingDirectory(path: dir)
        }
        // A new db opened by two processes at once (the daemon starting while an admin runs `inboxd user add`): one
        // may find the file locked while the other switches it to WAL, or lose the race for a migration. SQLite
        // errors are retried for about 2 s; a file that is not a database, or from a newer schema, fails at once.
        var attempt = 0
        while true {
            do {
                return try openAndMigrate(path: path, configuration: config)
            } catch let e as DatabaseError where e.resultCode != .SQLITE_NOTADB && attempt < 30 {
                // Locked, or the schema changed under a statement (the other process's migration committed or
                // rolled back): about 2 s of tries in all, so a real error still ends a start quickly.
                attempt += 1
                usleep(useconds_t(20_000 + Int.random(in: 0..<80_000)))
            } catch let e as StoreError {
                throw e
            } catch let e as DatabaseError where e.resultCode == .SQLITE_NOTADB {
                throw StoreError.notADatabase(path: path)
            } catch let e as DatabaseError {
                throw StoreError.cannotOpen(path: path, reason: e.message ?? "\(e.resultCode)")
            } catch {
                throw StoreError.cannotOpen(path: path, reason: "\(error)")
            }
        }
    }

    private static func openAndMigrate(path: String, configuration: Configuration) throws -> DatabasePool {
        let pool = try DatabasePool(path: path, configuration: configuration)
        // On the writer: a reader connection opened now would cache the pre-migration schema.
        try pool.writeWithoutTransaction { db in
            let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
            let superseded = try Schema.migrator.hasBeenSuperseded(db)
            if version > Schema.version || superseded {
                throw StoreError.newerSchema(path: path, version: version)
            }
        }
        try migrate(pool)
        return pool
    }

    /// Applies pending migrations. Two processes opening a new db at once (the daemon starting while an admin runs
    /// `inboxd user add`) both see the same migrations pending; the one that loses fails inside its migration's
    /// transaction (rolled back) and simply tries again once the other has committed.
    static func migrate(_ pool: DatabasePool) throws {
        var attempt = 0
        while true {
            do {
                try Schema.migrator.migrate(pool)
                return
            } catch let e as DatabaseError where e.resultCode == .SQLITE_BUSY || e.resultCode == .SQLITE_LOCKED {
                throw e  // the caller retries the whole open
            } catch {
                attempt += 1
                let done = (try? pool.writeWithoutTransaction { try Schema.migrator.hasCompletedMigrations($0) }) ?? false
                if done { return }
                if attempt >= 50 { throw error }
                usleep(useconds_t(20_000 + Int.random(in: 0..<80_000)))
            }
        }
    }

    /// Read-only like `openReader`, with up to `readers` connections that read at once: for the slow or
    /// frequent readers (`/metrics`, lists, events, SSE polls) so they never queue ahead of status reads.
    public static func openReaderPool(path: String, readers: Int = 3) throws -> DatabasePool {
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(10)
        config.maximumReaderCount = readers
        config.label = "inboxd.bulk-reader"
        do {
            return try DatabasePool(path: path, configuration: config)
        } catch {
            throw StoreError.cannotOpen(path: path, reason: "\(error)")
        }
    }

    /// A reader that SQLite itself prevents from writing (`SQLITE_OPEN_READONLY`): the status API's only handle.
    /// A single connection beats a pool on 2 cores (fewer thread hops: measured ~10k req/s against ~7k for a pool on the status route).
    public static func openReader(path: String) throws -> DatabaseQueue {
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(10)
        config.label = "inboxd.reader"
        do {
            return try DatabaseQueue(path: path, configuration: config)
        } catch {
            throw StoreError.cannotOpen(path: path, reason: "\(error)")
        }
    }
}
