import Foundation
import GRDB
import Hummingbird
import Store

/// `GET /api/videos` (admins only): every job, filtered by `status` and `user`, in a stable order by
/// `(created_at, video_id)`, a page at a time. The cursor is opaque to clients: base64url of the last row's sort key.
public enum VideoListRoutes {
    public struct Page: ResponseEncodable {
        public var items: [VideoRow]
        public var next_cursor: String?

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(items, forKey: .items)
            try c.encode(next_cursor, forKey: .next_cursor)  // explicit null on the last page
        }

        enum CodingKeys: String, CodingKey { case items, next_cursor }
    }

    public static let defaultLimit = 50
    public static let maxLimit = 500

    public static func register<Context: RequestContext>(on router: Router<Context>, store: StatusStore, users: UserDirectory) {
        router.get("/api/videos") { request, _ -> Page in
            _ = try await users.authenticateAdmin(request)
            let q = request.uri.queryParameters
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let status = q["status"].map(String.init), !status.isEmpty {
                guard JobStatus(rawValue: status) != nil else {
                    throw APIError(.badRequest, "bad_request", "'status' must be processing, ready or failed, not '\(status.prefix(40))'")
                }
                conditions.append("status = ?")
                arguments += [status]
            }
            if let user = q["user"].map(String.init), !user.isEmpty {
                conditions.append("(username = ? OR user_id = ?)")
                arguments += [user, user]
            }
            var limit = defaultLimit
            if let text = q["limit"] {
                guard let n = Int(text), (1...maxLimit).contains(n) else {
                    throw APIError(.badRequest, "bad_request", "'limit' must be an integer from 1 to \(maxLimit)")
                }
                limit = n
            }
            if let cursor = q["cursor"].map(String.init), !cursor.isEmpty {
                guard let (created, id) = decodeCursor(cursor) else {
                    throw APIError(.badRequest, "bad_request", "'cursor' is not one this server issued")
                }
                conditions.append("(created_at > ? OR (created_at = ? AND video_id > ?))")
                arguments += [created, created, id]
            }
            let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            let sql = "SELECT * FROM videos \(whereClause) ORDER BY created_at, video_id LIMIT \(limit + 1)"
            let bound = arguments
            var rows = try await store.db.read { db in try VideoRow.fetchAll(db, sql: sql, arguments: bound) }
            var next: String?
            if rows.count > limit {
                rows.removeLast(rows.count - limit)
                next = encodeCursor(created: rows[limit - 1].created_at, id: rows[limit - 1].video_id)
            }
            return Page(items: rows, next_cursor: next)
        }
    }

    static func encodeCursor(created: String, id: String) -> String {
        Data("\(created)\n\(id)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func decodeCursor(_ cursor: String) -> (String, String)? {
        var b64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        guard cursor.count <= 256, let data = Data(base64Encoded: b64), let text = String(data: data, encoding: .utf8) else { return nil }
        let parts = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard parts.count == 2, Timestamp.date(String(parts[0])) != nil, !parts[1].isEmpty else { return nil }
        return (String(parts[0]), String(parts[1]))
    }
}
