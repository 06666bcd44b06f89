import GRDB
import Hummingbird
import Store
import TokenHash

/// Where the `users` table lives: the SQLite db (`SQLiteUsers`) or the shared PostgreSQL store.
public protocol UserTokenLookup: Sendable {
    /// The user whose token has this SHA-256 (revoked ones included), or nil.
    func user(tokenHash: String) async throws -> UserRow?
}

/// The SQLite `users` table, through a read-only handle.
public struct SQLiteUsers: UserTokenLookup {
    let db: DatabaseQueue
    public init(db: DatabaseQueue) { self.db = db }

    public func user(tokenHash: String) async throws -> UserRow? {
        try await db.read { db in try UserRow.filter(Column("token_hash") == tokenHash).fetchOne(db) }
    }
}

/// Who a bearer token belongs to. Users live in the store's `users` table, which keeps only each token's SHA-256
/// (`TokenHash`), so a leaked db does not leak tokens.
public struct UserDirectory: Sendable {
    private let lookup: any UserTokenLookup

    public init(db: DatabaseQueue) { lookup = SQLiteUsers(db: db) }
    public init(lookup: any UserTokenLookup) { self.lookup = lookup }

    /// What an `Authorization` header value says about the caller: nobody, an active user, or why not.
    public func authentication(for header: String?) async throws -> Authentication {
        guard let header else { return .anonymous }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty else {
            return .refused(APIError(.unauthorized, "unauthorized", "Authorization header must be 'Bearer <token>'", headers: APIError.challenge))
        }
        let hash = TokenHash.hash(String(parts[1]).trimmingSpacesAndTabs())
        let user = try await lookup.user(tokenHash: hash)
        guard let user, user.revokedAt == nil else {
            return .refused(APIError(.unauthorized, "unauthorized", "unknown or revoked token", headers: APIError.challenge))
        }
        return .user(user)
    }
}

extension String {
    /// Without the optional whitespace HTTP allows around a header value's parts (spaces and tabs only).
    func trimmingSpacesAndTabs() -> String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
        return String(s)
    }
}
