import Foundation
import GRDB
import HTTPKit
import Hummingbird
import HummingbirdTesting
import StatusAPI
import Store
import Testing
import TokenHash

/// Bearer auth fills the request context once; routes only read it. In process, with the daemon's context.
@Suite struct AuthTests {
    @Test func aTokenIsCheckedByMiddlewareAndEachRouteAsksOnlyForWhatItNeeds() async throws {
        let path = NSTemporaryDirectory() + "inboxd-auth-\(UUID().uuidString).db"
        defer { for s in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + s) } }
        let writer = try StoreDatabase.openWriter(path: path)
        let admin = TokenHash.newToken(), viewer = TokenHash.newToken(), revoked = TokenHash.newToken()
        let id = VideoID.make()
        try await writer.write { db in
            try UserRow(username: "boss", canUpload: true, isAdmin: true, tokenHash: TokenHash.hash(admin)).insert(db)
            try UserRow(username: "viewer", canUpload: false, isAdmin: false, tokenHash: TokenHash.hash(viewer)).insert(db)
            var gone = UserRow(username: "gone", canUpload: true, isAdmin: true, tokenHash: TokenHash.hash(revoked))
            gone.revokedAt = Timestamp.string()
            try gone.insert(db)
            try VideoRow(videoID: id, title: "t", source: .drop).insert(db)
        }
        let store = try StatusStore(path: path)
        let router = Router(context: APIRequestContext.self)
        router.add(middleware: BearerAuthMiddleware(users: UserDirectory(db: store.db)))
        StatusRoutes.register(on: router, store: store)
        VideoListRoutes.register(on: router, store: store)

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
            #expect(try await list("Bearer \t\(admin) ").0 == .ok)
            // A route that needs no token ignores a bad one, as the seed's status route did.
            let status = try await client.execute(uri: "/api/videos/\(id)/status", method: .get, headers: [.authorization: "Bearer nonsense"])
            #expect(status.status == .ok)
        }
    }

    @Test func aTokenHashIsTheSHA256HexOfTheToken() {
        #expect(TokenHash.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let token = TokenHash.newToken()
        #expect(token.utf8.count == 64 && token.allSatisfy(\.isHexDigit) && token != TokenHash.newToken())
    }
}
