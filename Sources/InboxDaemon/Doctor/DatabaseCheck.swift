import Foundation
import GRDB
import Store

/// The job db, opened read-only (doctor never migrates or writes): a SQLite file, `PRAGMA integrity_check` ok,
/// and a schema version this binary knows. A missing db is fine: the daemon creates it.
enum DatabaseCheck {
    static func finding(_ path: String) -> Finding {
        let what = "db \(path)"
        guard FileManager.default.fileExists(atPath: path) else { return .ok("\(what) (not created yet; inboxd creates it at start)") }
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(5)
        do {
            let db = try DatabaseQueue(path: path, configuration: configuration)
            let (version, integrity) = try db.read { db in
                (try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0, try String.fetchAll(db, sql: "PRAGMA integrity_check"))
            }
            if version > Schema.version {
                return .fail(what, "schema version \(version) is newer than this inboxd knows (\(Schema.version))",
                             fix: "install the inboxd that wrote it, or restore a backup made by this version")
            }
            guard integrity == ["ok"] else {
                return .fail(what, "integrity_check: \(integrity.prefix(3).joined(separator: "; "))",
                             fix: "stop inboxd and restore the last backup (sqlite3 .backup / VACUUM INTO)")
            }
            return .ok("\(what) (schema \(version) of \(Schema.version), integrity ok)")
        } catch let error as DatabaseError where error.resultCode == .SQLITE_NOTADB {
            return .fail(what, "not a SQLite database", fix: "move the file aside (inboxd creates a new db) or fix `db` in the config")
        } catch {
            return .fail(what, "cannot read: \(error)", fix: "check the file's owner and mode, or fix `db` in the config")
        }
    }
}
