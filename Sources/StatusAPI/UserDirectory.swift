import GRDB
import Hummingbird
import Store

/// Who a request's `Authorization: Bearer <token>` belongs to. Users live in the db's `users` table, which keeps only
/// each token's SHA-256, so a leaked db does not leak tokens. Reads through the status API's read-only handle.
public struct UserDirectory: Sendable {
    private let db: DatabaseQueue
    private let hashToken: @Sendable (String) -> String

    /// `hashToken` is the SHA-256 hex of a token (injected: the hash lives with the daemon's other digests).
    public init(db: DatabaseQueue, hashToken: @escaping @Sendable (String) -> String) {
        self.db = db
        self.hashToken = hashToken
    }

    /// The request's user, or a 401 for a missing, unknown or revoked token.
    public func authenticate(_ request: Request) async throws -> UserRow {
        guard let header = request.headers[.authorization] else {
            throw APIError(.unauthorized, "unauthorized", "missing Authorization: Bearer <token> header", headers: Self.challenge)
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty else {
            throw APIError(.unauthorized, "unauthorized", "Authorization header must be 'Bearer <token>'", headers: Self.challenge)
        }
        let hash = hashToken(String(parts[1]).trimmingSpacesAndTabs())
        let user = try await db.read { db in
            try UserRow.filter(Column("token_hash") == hash).fetchOne(db)
        }
        guard let user, user.revoked_at == nil else {
            throw APIError(.unauthorized, "unauthorized", "unknown or revoked token", headers: Self.challenge)
        }
        return user
    }

    /// A user whose upload flag is set (401 / 403 otherwise), as the seed's `uploadFlag` check.
    public func authenticateUploader(_ request: Request) async throws -> UserRow {
        let user = try await authenticate(request)
        guard user.can_upload else {
            throw APIError(.forbidden, "forbidden", "user '\(user.username)' may not upload (no upload flag)")
        }
        return user
    }

    static let challenge: HTTPFields = [.wwwAuthenticate: "Bearer"]

    public func authenticateAdmin(_ request: Request) async throws -> UserRow {
        let user = try await authenticate(request)
        guard user.is_admin else {
            throw APIError(.forbidden, "forbidden", "user '\(user.username)' is not an admin")
        }
        return user
    }
}

extension String {
    func trimmingSpacesAndTabs() -> String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
        return String(s)
    }
}
