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
    private func withRoutes(_ body: @escaping @Sendable (any TestClientProtocol, String, Set<String>) async throws -> Void) async throws {
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
        try await Application(router: router).test(.router) { client in try await body(client, id, columns) }
    }

    @Test func theWholeRowHasEveryColumnNullIncludedInTheSameKeyOrderEachTime() async throws {
        try await withRoutes { client, id, columns in
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
        try await withRoutes { client, id, _ in
            let first = try await client.execute(uri: "/api/videos/\(id)/status", method: .get)
            let text = String(buffer: first.body)
            #expect(text.contains(#""error":null"#) && text.contains(#""eta_s":null"#), "\(text)")
            for _ in 0..<5 {
                #expect(try await client.execute(uri: "/api/videos/\(id)/status", method: .get).body == first.body)
            }
        }
    }
}
