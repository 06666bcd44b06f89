import Foundation
import GRDB
import Hummingbird
import HTTPKit
import HummingbirdTesting
import StatusAPI
import Store
import Testing

/// The status routes in process (`app.test(.router)`, no socket), with the daemon's request context (`APIRequestContext`).
@Suite struct VideoRouteTests {
    private func withRoutes(_ body: @escaping @Sendable (any TestClientProtocol, String, Set<String>, DatabasePool) async throws -> Void) async throws {
        let path = NSTemporaryDirectory() + "inboxd-routes-\(UUID().uuidString).db"
        defer { for s in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + s) } }
        let writer = try StoreDatabase.openWriter(path: path)
        let id = VideoID.make()
        let columns = try await writer.write { db in
            try VideoRow(videoID: id, title: "t", source: .drop).insert(db)
            return Set(try Row.fetchAll(db, sql: "PRAGMA table_info(videos)").map { $0["name"] as String })
        }
        let router = Router(context: APIRequestContext.self)
        StatusRoutes.register(on: router, store: try StatusStore(path: path))
        try await Application(router: router).test(.router) { client in try await body(client, id, columns, writer) }
    }

    @Test func theWholeRowHasEveryColumnNullIncludedInTheSameKeyOrderEachTime() async throws {
        try await withRoutes { client, id, columns, _ in
            let first = try await client.execute(uri: "/api/videos/\(id)", method: .get)
            #expect(first.status == .ok)
            let json = try #require(try JSONSerialization.jsonObject(with: Data(first.body.readableBytesView)) as? [String: Any])
            #expect(Set(json.keys) == columns)
            #expect(json["error"] is NSNull && json["finished_at"] is NSNull && json["failure_reason"] is NSNull)
            for _ in 0..<5 {
                let again = try await client.execute(uri: "/api/videos/\(id)", method: .get)
                #expect(again.body == first.body)
            }
        }
    }

    @Test func theStatusAnswerKeepsItsKeyOrderAndExplicitNulls() async throws {
        try await withRoutes { client, id, _, _ in
            let first = try await client.execute(uri: "/api/videos/\(id)/status", method: .get)
            let text = String(buffer: first.body)
            #expect(text.contains(#""error":null"#) && text.contains(#""eta_s":null"#), "\(text)")
            for _ in 0..<5 {
                #expect(try await client.execute(uri: "/api/videos/\(id)/status", method: .get).body == first.body)
            }
        }
    }

    @Test func theStatusAnswerKeysAreSorted() async throws {
        try await withRoutes { client, id, _, _ in
            let text = String(buffer: try await client.execute(uri: "/api/videos/\(id)/status", method: .get).body)
            let keys = ["attempts", "created_at", "error", "eta_s", "failure_reason", "next_attempt_at", "phase", "progress",
                        "status", "thumbnail_url", "title", "updated_at", "video_id", "video_url"]
            let offsets = keys.map { text.range(of: "\"\($0)\":")?.lowerBound }
            #expect(!offsets.contains(nil) && offsets.compactMap { $0 } == offsets.compactMap { $0 }.sorted(), "\(text)")
        }
    }

    /// A poller that sends the ETag back gets 304 with no body until the row changes, then 200 with a new tag.
    @Test func theStatusAnswerHasAnETagAndIfNoneMatchGets304UntilItChanges() async throws {
        try await withRoutes { client, id, _, writer in
            let uri = "/api/videos/\(id)/status"
            let first = try await client.execute(uri: uri, method: .get)
            #expect(first.status == .ok)
            #expect(first.headers[.cacheControl] == "no-cache")
            let tag = try #require(first.headers[.eTag])
            #expect(tag.hasPrefix("\"") && tag.hasSuffix("\"") && tag.count == 18, "\(tag)")

            let same = try await client.execute(uri: uri, method: .get, headers: [.ifNoneMatch: tag])
            #expect(same.status == .notModified)
            #expect(same.body.readableBytes == 0)
            #expect(same.headers[.eTag] == tag)
            // In a list, weak (W/) or among others, or `*`: all match (weak comparison, RFC 9110 §13.1.2).
            for header in ["\"nope\", \(tag)", "W/\(tag)", "*", ", \(tag),,"] {
                #expect(try await client.execute(uri: uri, method: .get, headers: [.ifNoneMatch: header]).status == .notModified, "\(header)")
            }
            #expect(try await client.execute(uri: uri, method: .get, headers: [.ifNoneMatch: "\"other\""]).status == .ok)

            try await writer.write { db in
                try db.execute(sql: "UPDATE videos SET phase = 'converting', progress = 0.5 WHERE video_id = ?", arguments: [id])
            }
            let changed = try await client.execute(uri: uri, method: .get, headers: [.ifNoneMatch: tag])
            #expect(changed.status == .ok)
            #expect(String(buffer: changed.body).contains(#""progress":0.5"#))
            let newTag = try #require(changed.headers[.eTag])
            #expect(newTag != tag)
            #expect(try await client.execute(uri: uri, method: .get, headers: [.ifNoneMatch: newTag]).status == .notModified)
        }
    }

    /// A malformed `If-None-Match` is ignored: the full answer, never an error and never a 304.
    @Test func aMalformedIfNoneMatchGetsTheFullAnswer() async throws {
        try await withRoutes { client, id, _, _ in
            let uri = "/api/videos/\(id)/status"
            let tag = try #require(try await client.execute(uri: uri, method: .get).headers[.eTag])
            let bare = String(tag.dropFirst().dropLast())
            for header in [bare, "\(tag) junk", "\"unterminated", "W/", "", "w/\(tag)", "\(tag) \(tag)"] {
                let r = try await client.execute(uri: uri, method: .get, headers: [.ifNoneMatch: header])
                #expect(r.status == .ok, "If-None-Match: \(header)")
                #expect(r.body.readableBytes > 0 && r.headers[.eTag] == tag)
            }
        }
    }
}
