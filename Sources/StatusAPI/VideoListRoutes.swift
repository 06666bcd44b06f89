import Foundation
import GRDB
import HTTPKit
import Hummingbird
import Store

/// `GET /api/videos` (admins only): every job, filtered by `status` and `user`, in a stable order by
/// `(created_at, video_id)`, a page at a time. The cursor is opaque to clients (it is the last row's sort key, hex
/// `created_at` "." `video_id`); any string of that shape is a valid position, so a stale cursor never fails.
/// What the list reads: one page of whole rows in `(created_at, video_id)` order (byte order of the text), after
/// `after`, at most `limit`; the SQLite reader or the shared PostgreSQL store.
public protocol VideoListing: Sendable {
    func page(status: JobStatus?, user: String?, after: (createdAt: String, videoID: String)?, limit: Int) async throws -> [RowJSON]
}

extension StatusStore: VideoListing {
    public func page(status: JobStatus?, user: String?, after: (createdAt: String, videoID: String)?, limit: Int) async throws -> [RowJSON] {
        try await bulk.read { db in try VideoQueries.page(db, status: status, user: user, after: after, limit: limit).map(RowJSON.init) }
    }
}

public enum VideoListRoutes {
    public struct Page: ResponseEncodable {
        public var items: [RowJSON]
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

    public static func register<Context: AuthenticatedRequestContext>(on router: Router<Context>, store: some VideoListing) {
        router.get("/api/videos") { request, context -> Page in
            _ = try context.requireAdmin()
            let q = request.uri.queryParameters
            let status = try q["status"].map(String.init).map { text in
                guard let value = JobStatus(rawValue: text) else {
                    throw APIError.badRequest("'status' must be processing, ready or failed, not '\(text.prefix(40))'")
                }
                return value
            }
            let user = q["user"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
            var limit = defaultLimit
            if let text = q["limit"] {
                guard let n = Int(text), (1...maxLimit).contains(n) else {
                    throw APIError.badRequest("'limit' must be an integer from 1 to \(maxLimit)")
                }
                limit = n
            }
            let after = try q["cursor"].map(String.init).map { cursor in
                guard let position = decodeCursor(cursor) else {
                    throw APIError.badRequest("'cursor' is not one this server issued")
                }
                return (createdAt: position.0, videoID: position.1)
            }
            let bound = limit + 1
            var rows = try await store.page(status: status, user: user, after: after, limit: bound)
            var next: String?
            if rows.count > limit {
                rows.removeLast(rows.count - limit)
                let last = rows[limit - 1]
                next = encodeCursor(created: String.fromDatabaseValue(last["created_at"] ?? .null) ?? "",
                                    id: String.fromDatabaseValue(last["video_id"] ?? .null) ?? "")
            }
            return Page(items: rows, next_cursor: next)
        }
    }

    static func encodeCursor(created: String, id: String) -> String {
        let digits = Array("0123456789abcdef".utf8)
        let hex = created.utf8.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xF)]] }
        return String(decoding: hex, as: UTF8.self) + "." + id
    }

    /// Inverse of `encodeCursor`; nil unless the cursor has the documented shape.
    static func decodeCursor(_ cursor: String) -> (String, String)? {
        let parts = cursor.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        let hex = Array(parts[0].utf8), id = parts[1]
        guard (2...128).contains(hex.count), hex.count % 2 == 0, (1...64).contains(id.utf8.count),
              id.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 }) else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: c - 48
            case 97...102: c - 87
            default: nil
            }
        }
        var bytes: [UInt8] = []
        for i in stride(from: 0, to: hex.count, by: 2) {
            guard let hi = nibble(hex[i]), let lo = nibble(hex[i + 1]) else { return nil }
            bytes.append(hi << 4 | lo)
        }
        return (String(decoding: bytes, as: UTF8.self), String(id))
    }
}
