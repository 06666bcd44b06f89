import Foundation
import GRDB
import HTTPKit
import Hummingbird
import HummingbirdTesting
@testable import InboxDaemon
import StatusAPI
import Store
import Testing
import TestSupport
import TokenHash

/// The status routes in process (`app.test(.router)`, no socket), with the daemon's request context
/// (`APIRequestContext`), over both stores (`StoreKind`): the SQLite reader and the shared PostgreSQL store answer
/// the same bytes.
@Suite(.serialized) struct VideoRouteTests {
    private func withRoutes(_ kind: StoreKind,
                            _ body: @escaping @Sendable (any TestClientProtocol, String, StoreRig) async throws -> Void) async throws {
        try await StoreRig.with(kind) { rig in
            let id = VideoID.make()
            try await rig.store.recordClaim(VideoRow(videoID: id, title: "t", source: .drop))
            let router = Router(context: APIRequestContext.self)
            StatusRoutes.register(on: router, store: rig.reader)
            try await Application(router: router).test(.router) { client in try await body(client, id, rig) }
        }
    }

    @Test(arguments: StoreKind.allCases) func theWholeRowHasEveryColumnNullIncludedInTheSameKeyOrderEachTime(kind: StoreKind) async throws {
        try await withRoutes(kind) { client, id, rig in
            let first = try await client.execute(uri: "/api/videos/\(id)", method: .get)
            #expect(first.status == .ok)
            let json = try #require(try JSONSerialization.jsonObject(with: Data(first.body.readableBytesView)) as? [String: Any])
            let columns = try rig.columns("videos")
            #expect(Set(json.keys) == Set(columns))
            #expect(try Self.keys(String(buffer: first.body)) == columns.sorted(), "sorted keys: \(String(buffer: first.body))")
            #expect(json["error"] is NSNull && json["finished_at"] is NSNull && json["failure_reason"] is NSNull)
            for _ in 0..<5 {
                let again = try await client.execute(uri: "/api/videos/\(id)", method: .get)
                #expect(again.body == first.body)
            }
        }
    }

    @Test(arguments: StoreKind.allCases) func theStatusAnswerKeepsItsKeyOrderAndExplicitNulls(kind: StoreKind) async throws {
        try await withRoutes(kind) { client, id, _ in
            let first = try await client.execute(uri: "/api/videos/\(id)/status", method: .get)
            let text = String(buffer: first.body)
            #expect(text.contains(#""error":null"#) && text.contains(#""eta_s":null"#), "\(text)")
            for _ in 0..<5 {
                #expect(try await client.execute(uri: "/api/videos/\(id)/status", method: .get).body == first.body)
            }
        }
    }

    @Test(arguments: StoreKind.allCases) func theStatusAnswerKeysAreSorted(kind: StoreKind) async throws {
        try await withRoutes(kind) { client, id, _ in
            let text = String(buffer: try await client.execute(uri: "/api/videos/\(id)/status", method: .get).body)
            #expect(try Self.keys(text) == ["attempts", "created_at", "error", "eta_s", "failure_reason", "next_attempt_at", "phase", "playable_at", "preview_url", "progress",
                                        "status", "thumbnail_url", "title", "updated_at", "video_id", "video_url"], "\(text)")
        }
    }

    /// A poller that sends the ETag back gets 304 with no body until the row changes (here by an admin's SQL), then
    /// 200 with a new tag.
    @Test(arguments: StoreKind.allCases) func theStatusAnswerHasAnETagAndIfNoneMatchGets304UntilItChanges(kind: StoreKind) async throws {
        try await withRoutes(kind) { client, id, rig in
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

            try rig.sql("UPDATE videos SET phase = 'converting', progress = 0.5 WHERE video_id = '\(id)'")
            let changed = try await client.execute(uri: uri, method: .get, headers: [.ifNoneMatch: tag])
            #expect(changed.status == .ok)
            #expect(String(buffer: changed.body).contains(#""progress":0.5"#))
            let newTag = try #require(changed.headers[.eTag])
            #expect(newTag != tag)
            #expect(try await client.execute(uri: uri, method: .get, headers: [.ifNoneMatch: newTag]).status == .notModified)
        }
    }

    /// A malformed `If-None-Match` is ignored: the full answer, never an error and never a 304.
    @Test(arguments: StoreKind.allCases) func aMalformedIfNoneMatchGetsTheFullAnswer(kind: StoreKind) async throws {
        try await withRoutes(kind) { client, id, _ in
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

    /// The same job on either store answers the same bytes and the same ETag: the whole row, the `/status` answer
    /// and the audit log (the audit entries' times aside).
    @Test func bothStoresAnswerTheSameBytesForTheSameJob() async throws {
        var row = VideoRow(videoID: VideoID.make(), title: "same", username: "ann", source: .http, sidecar: #"{"title":"same"}"#)
        row.createdAt = "2030-01-01T00:00:00Z"
        row.updatedAt = row.createdAt
        row.priority = 2
        let job = row
        let answers = Answers()
        for kind in StoreKind.allCases {
            try await StoreRig.with(kind) { rig in
                try await rig.store.recordClaim(job)
                try rig.sql("""
                    UPDATE videos SET phase = 'converting', progress = 0.25, attempts = 1, started_at = '2030-01-01T00:00:01Z',
                      duration_s = 2.5, width = 64, height = 48, size_bytes = 500, cpu_s = 0.125 WHERE video_id = '\(job.videoID)'
                    """)
                let router = Router(context: APIRequestContext.self)
                StatusRoutes.register(on: router, store: rig.reader)
                EventRoutes.register(on: router, store: rig.reader)
                try await Application(router: router).test(.router) { client in
                    for uri in ["/api/videos/\(job.videoID)", "/api/videos/\(job.videoID)/status", "/api/videos/\(job.videoID)/events"] {
                        let r = try await client.execute(uri: uri, method: .get)
                        #expect(r.status == .ok)
                        // The audit entries' times are the store's clock at the write.
                        let body = String(buffer: r.body).replacingOccurrences(of: #""at":"[^"]*""#, with: #""at":"…""#, options: .regularExpression)
                        answers.add(kind, uri, body, r.headers[.eTag])
                    }
                }
            }
        }
        let (sqlite, pg) = answers.byKind()
        #expect(sqlite.count == 3 && pg.count == 3)
        for (a, b) in zip(sqlite, pg) {
            #expect(a.uri == b.uri)
            #expect(a.body == b.body, "\(a.uri)\nsqlite:   \(a.body)\npostgres: \(b.body)")
            #expect(a.tag == b.tag, "\(a.uri)")
        }
    }

    final class Answers: @unchecked Sendable {
        private let lock = NSLock()
        private var all: [(kind: StoreKind, uri: String, body: String, tag: String?)] = []
        func add(_ kind: StoreKind, _ uri: String, _ body: String, _ tag: String?) { lock.withLock { all.append((kind, uri, body, tag)) } }
        func byKind() -> ([(uri: String, body: String, tag: String?)], [(uri: String, body: String, tag: String?)]) {
            lock.withLock {
                (all.filter { $0.kind == .sqlite }.map { ($0.uri, $0.body, $0.tag) }, all.filter { $0.kind == .postgres }.map { ($0.uri, $0.body, $0.tag) })
            }
        }
    }

    /// The top-level keys of a JSON object, in the order they appear.
    static func keys(_ json: String) throws -> [String] {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        return object.keys.compactMap { key in json.range(of: "\"\(key)\":").map { (key, $0.lowerBound) } }
            .sorted { $0.1 < $1.1 }.map(\.0)
    }
}

/// Bearer auth fills the request context once; routes only read it. In process, with the daemon's context, the
/// token checked through `UserTokenLookup` on either store (`StoreKind`).
@Suite(.serialized) struct StoreAuthTests {
    @Test(arguments: StoreKind.allCases) func aTokenIsCheckedByMiddlewareAndEachRouteAsksOnlyForWhatItNeeds(kind: StoreKind) async throws {
        try await StoreRig.with(kind) { rig in
            let admin = TokenHash.newToken(), viewer = TokenHash.newToken(), revoked = TokenHash.newToken()
            let id = VideoID.make()
            // As `inboxd user add` would leave them (the admins' SQL on the store).
            try rig.sql("""
                INSERT INTO users (username, can_upload, is_admin, token_hash, created_at, revoked_at) VALUES
                  ('boss', 1, 1, '\(TokenHash.hash(admin))', '2030-01-01T00:00:00Z', NULL),
                  ('viewer', 0, 0, '\(TokenHash.hash(viewer))', '2030-01-01T00:00:00Z', NULL),
                  ('gone', 1, 1, '\(TokenHash.hash(revoked))', '2030-01-01T00:00:00Z', '2030-01-02T00:00:00Z')
                """)
            try await rig.store.recordClaim(VideoRow(videoID: id, title: "t", source: .drop))
            #expect(try await rig.users.user(tokenHash: TokenHash.hash(viewer))?.username == "viewer")
            #expect(try await rig.users.user(tokenHash: TokenHash.hash(revoked))?.revokedAt == "2030-01-02T00:00:00Z", "revoked users too")
            #expect(try await rig.users.user(tokenHash: "nope") == nil)

            let router = Router(context: APIRequestContext.self)
            router.add(middleware: BearerAuthMiddleware(users: UserDirectory(lookup: rig.users)))
            StatusRoutes.register(on: router, store: rig.reader)
            VideoListRoutes.register(on: router, store: rig.listing)
            try await Application(router: router).test(.router) { client in
                func list(_ authorization: String?) async throws -> (HTTPResponse.Status, String) {
                    let headers: HTTPFields = authorization.map { [.authorization: $0] } ?? [:]
                    let r = try await client.execute(uri: "/api/videos", method: .get, headers: headers)
                    return (r.status, String(buffer: r.body))
                }
                let missing = try await list(nil)
                #expect(missing.0 == .unauthorized && missing.1.contains("missing Authorization"), "\(missing)")
                let malformed = try await list("Basic abc")
                #expect(malformed.0 == .unauthorized && malformed.1.contains("must be 'Bearer <token>'"), "\(malformed)")
                let unknown = try await list("Bearer " + String(repeating: "0", count: 64))
                #expect(unknown.0 == .unauthorized && unknown.1.contains("unknown or revoked"), "\(unknown)")
                #expect(try await list("Bearer \(revoked)").0 == .unauthorized)
                let notAdmin = try await list("Bearer \(viewer)")
                #expect(notAdmin.0 == .forbidden && notAdmin.1.contains("'viewer' is not an admin"), "\(notAdmin)")
                let ok = try await list("Bearer \t\(admin) ")
                #expect(ok.0 == .ok && ok.1.contains(id), "\(ok)")
                // A route that needs no token ignores a bad one, as the seed's status route did.
                let status = try await client.execute(uri: "/api/videos/\(id)/status", method: .get, headers: [.authorization: "Bearer nonsense"])
                #expect(status.status == .ok)
            }
        }
    }
}
