import GRDB
import Store
import TokenHash

/// The `users` table's admin operations behind `inboxd user …`, on either store: `UserAdmin` (the SQLite file) or
/// `PGUserAdmin` (the shared PostgreSQL store of `[store] url`, which every node reads tokens from).
protocol UserAdministering: Sendable {
    /// Creates the user and returns its token, which exists nowhere else afterwards.
    func add(username: String, canUpload: Bool, isAdmin: Bool, limits: UserAdmin.Changes) async throws -> (UserRow, String)
    /// Changes an active user's flags and limits; the daemon reads them on the next job or request.
    func modify(username: String, _ changes: UserAdmin.Changes) async throws -> UserRow
    func list() async throws -> [UserRow]
    func revoke(username: String) async throws
}

/// The SQLite store's users. Writes go through the daemon's db file with a normal writer connection (WAL and a busy
/// timeout make this safe next to a running daemon).
struct UserAdmin: UserAdministering {
    let db: DatabasePool

    enum Failure: Error, CustomStringConvertible {
        case invalidName(String)
        case exists(String)
        case unknown(String)
        case nothingToChange

        var description: String {
            switch self {
            case .invalidName(let n): "user name '\(n)' must be 1-64 characters of letters, digits, '.', '_' or '-'"
            case .exists(let n): "user '\(n)' already exists (names are never reused, even after revoke)"
            case .unknown(let n): "no active user '\(n)'"
            case .nothingToChange: "nothing to change: give at least one flag"
            }
        }
    }

    /// Creates the user and returns its token, which exists nowhere else afterwards.
    func add(username: String, canUpload: Bool, isAdmin: Bool, limits: Changes = Changes()) throws -> (UserRow, String) {
        var (row, token) = try Self.newUser(username: username, canUpload: canUpload, isAdmin: isAdmin, limits: limits)
        try db.write { db in
            guard try UserRow.filter(Column("username") == username).fetchCount(db) == 0 else { throw Failure.exists(username) }
            try row.insert(db)
            row.id = db.lastInsertedRowID
        }
        return (row, token)
    }

    /// A valid name's new row (no id yet) and its token.
    static func newUser(username: String, canUpload: Bool, isAdmin: Bool, limits: Changes) throws -> (UserRow, String) {
        guard (1...64).contains(username.count),
              username.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }),
              !username.hasPrefix(".") else { throw Failure.invalidName(username) }
        let token = TokenHash.newToken()
        var row = UserRow(username: username, canUpload: canUpload, isAdmin: isAdmin, tokenHash: TokenHash.hash(token))
        limits.apply(to: &row)
        return (row, token)
    }

    /// What `user add/modify` may set besides the name; a nil field is left as it is. A limit of `.some(nil)`
    /// goes back to the config's default.
    struct Changes: Sendable, Equatable {
        var canUpload: Bool?
        var isAdmin: Bool?
        var maxPriority: Int?
        var maxRunningJobs: Int??
        var maxQueuedJobs: Int??
        var uploadsPerMinute: Int??
        var uploadBytesPerHour: Int64??

        var isEmpty: Bool { self == Changes() }

        func apply(to row: inout UserRow) {
            if let v = canUpload { row.canUpload = v }
            if let v = isAdmin { row.isAdmin = v }
            if let v = maxPriority { row.maxPriority = v }
            if let v = maxRunningJobs { row.maxRunningJobs = v }
            if let v = maxQueuedJobs { row.maxQueuedJobs = v }
            if let v = uploadsPerMinute { row.uploadsPerMinute = v }
            if let v = uploadBytesPerHour { row.uploadBytesPerHour = v }
        }
    }

    func modify(username: String, _ changes: Changes) throws -> UserRow {
        guard !changes.isEmpty else { throw Failure.nothingToChange }
        return try db.write { db in
            guard var row = try UserQueries.active(db, username: username) else { throw Failure.unknown(username) }
            changes.apply(to: &row)
            try row.update(db)
            return row
        }
    }

    func list() throws -> [UserRow] {
        try db.read { db in try UserRow.order(Column("id")).fetchAll(db) }
    }

    func revoke(username: String) throws {
        try db.write { db in
            try db.execute(sql: "UPDATE users SET revoked_at = ? WHERE username = ? AND revoked_at IS NULL",
                           arguments: [Timestamp.string(), username])
            guard db.changesCount == 1 else { throw Failure.unknown(username) }
        }
    }
}
