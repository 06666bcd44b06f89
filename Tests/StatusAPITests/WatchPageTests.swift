import Foundation
import GRDB
import HTTPKit
import Hummingbird
import HummingbirdTesting
import StatusAPI
import Store
import Testing
import TokenHash

/// The watch page (`GET /videos/{id}`) and its assets in process: what a viewer, a private video's owner and a
/// stranger get. That it plays is proven in a real browser by InboxdTests/PlaybackTests.
@Suite struct WatchPageTests {
    struct Rig {
        let client: any TestClientProtocol
        let ready: String, secret: String, failed: String, processing: String
    }

    static let hostileTitle = #"<script>alert("x")</script> & 'friends'"#

    private func withWatch(playerInstalled: Bool = true, _ body: @escaping @Sendable (Rig) async throws -> Void) async throws {
        let dir = NSTemporaryDirectory() + "inboxd-watch-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/web/videojs", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        if playerInstalled {
            try "/* Video.js stand-in */".write(toFile: dir + "/web/videojs/video.min.js", atomically: true, encoding: .utf8)
            try ".video-js {}".write(toFile: dir + "/web/videojs/video-js.min.css", atomically: true, encoding: .utf8)
        }
        let writer = try StoreDatabase.openWriter(path: dir + "/inboxd.db")
        let ids = (0..<4).map { _ in VideoID.make() }
        try await writer.write { db in
            for (name, admin) in [("alice", false), ("bob", false), ("root", true)] {
                try UserRow(username: name, canUpload: true, isAdmin: admin, tokenHash: TokenHash.hash("\(name)-token")).insert(db)
            }
            var ready = VideoRow(videoID: ids[0], title: Self.hostileTitle, username: "alice", visibility: .published, source: .drop)
            ready.status = .ready
            ready.phase = .done
            ready.videoURL = "https://bucket.example.org/videos/\(ids[0])/master.m3u8"
            ready.thumbnailURL = "https://bucket.example.org/videos/\(ids[0])/thumbnail.jpg"
            try ready.insert(db)
            var secret = ready
            secret.videoID = ids[1]
            secret.title = "Secret plans"
            secret.visibility = .private
            try secret.insert(db)
            var failed = VideoRow(videoID: ids[2], title: "broken", source: .drop)
            failed.status = .failed
            failed.phase = .converting
            failed.error = "decoder said <b>no</b>"
            try failed.insert(db)
            var processing = VideoRow(videoID: ids[3], title: "still going", source: .drop)
            processing.phase = .converting
            processing.progress = 0.42
            try processing.insert(db)
            // The live preview's column, as the live-conversion migration adds it (read only when present).
            let columns = try Row.fetchAll(db, sql: "PRAGMA table_info(videos)").map { $0["name"] as String }
            if !columns.contains("preview_url") { try db.execute(sql: "ALTER TABLE videos ADD COLUMN preview_url TEXT") }
            try db.execute(sql: "UPDATE videos SET preview_url = ? WHERE video_id = ?",
                           arguments: ["http://127.0.0.1:8080/videos/\(ids[3])/master.m3u8", ids[3]])
        }
        let store = try StatusStore(path: dir + "/inboxd.db")
        let router = Router(context: APIRequestContext.self)
        router.add(middleware: BearerAuthMiddleware(users: UserDirectory(db: store.db)))
        WatchRoutes.register(on: router, store: store, users: UserDirectory(db: store.db), assets: WebAssets.load(directory: dir + "/web"))
        try await Application(router: router).test(.router) { client in
            try await body(Rig(client: client, ready: ids[0], secret: ids[1], failed: ids[2], processing: ids[3]))
        }
    }

    private func get(_ rig: Rig, _ uri: String, headers: HTTPFields = [:]) async throws -> (TestResponse, String) {
        let r = try await rig.client.execute(uri: uri, method: .get, headers: headers)
        return (r, String(buffer: r.body))
    }

    @Test func aReadyVideosPageEscapesItsTitleAndLoadsOnlyFromItselfAndTheMediaOrigin() async throws {
        try await withWatch { rig in
            let (r, html) = try await get(rig, "/videos/\(rig.ready)")
            #expect(r.status == .ok)
            #expect(r.headers[.contentType] == "text/html; charset=utf-8")
            #expect(!html.contains("<script>alert"), "the title must be escaped:\n\(html)")
            #expect(html.contains("<h1>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;friends&#39;</h1>"), "\(html)")
            #expect(html.contains(#"data-src="https://bucket.example.org/videos/\#(rig.ready)/master.m3u8""#))
            #expect(html.contains(#"poster="https://bucket.example.org/videos/\#(rig.ready)/thumbnail.jpg""#))
            #expect(html.contains(#"data-engine="native""#))
            // Every script is a file of this server: no inline script, no CDN.
            let scripts = html.components(separatedBy: "<script").dropFirst()
            #expect(scripts.count == 2 && scripts.allSatisfy { $0.hasPrefix(#" src="/assets/"#) }, "\(html)")
            #expect(!html.contains("<style") && !html.contains("style=\""))
            let csp = try #require(r.headers[.contentSecurityPolicy])
            #expect(csp.contains("script-src 'self';") && csp.contains("default-src 'self';") && csp.contains("style-src 'self';"), "\(csp)")
            #expect(csp.contains("media-src 'self' https://bucket.example.org blob:"), "\(csp)")
            #expect(csp.contains("connect-src 'self' https://bucket.example.org;"), "\(csp)")
            #expect(r.headers[.init("Referrer-Policy")!] == "no-referrer")
        }
    }

    @Test func vhsIsChosenByTheEngineOptionAndAnUnknownEngineIs400() async throws {
        try await withWatch { rig in
            let (vhs, html) = try await get(rig, "/videos/\(rig.ready)?engine=vhs")
            #expect(vhs.status == .ok && html.contains(#"data-engine="vhs""#))
            let (bad, text) = try await get(rig, "/videos/\(rig.ready)?engine=flash")
            #expect(bad.status == .badRequest && bad.headers[.contentType] == "text/html; charset=utf-8")
            #expect(text.contains("engine must be native or vhs"), "\(text)")
        }
    }

    @Test func unknownAndMalformedIdsGetHTMLPages() async throws {
        try await withWatch { rig in
            let unknown = VideoID.make()
            let (missing, html) = try await get(rig, "/videos/\(unknown)")
            #expect(missing.status == .notFound && missing.headers[.contentType] == "text/html; charset=utf-8")
            #expect(html.contains("There is no video with id \(unknown)."), "\(html)")
            let (bad, text) = try await get(rig, "/videos/not%3Ca%3Euuid")
            #expect(bad.status == .badRequest && bad.headers[.contentType] == "text/html; charset=utf-8")
            #expect(text.contains("not&lt;a&gt;uuid") && !text.contains("not<a>uuid"), "\(text)")
        }
    }

    @Test func aPrivateVideoNeedsItsOwnersOrAnAdminsTokenAndNeverLeaksItsTitle() async throws {
        try await withWatch { rig in
            let page = "/videos/\(rig.secret)"
            let refused: [(String, HTTPFields, HTTPResponse.Status)] = [
                (page, [:], .unauthorized),
                (page + "?token=wrong", [:], .unauthorized),
                (page, [.authorization: "Bearer wrong"], .unauthorized),
                (page + "?token=bob-token", [:], .forbidden),
                (page, [.authorization: "Bearer bob-token"], .forbidden),
            ]
            for (uri, headers, status) in refused {
                let (r, html) = try await get(rig, uri, headers: headers)
                #expect(r.status == status, "\(uri) \(headers)")
                #expect(r.headers[.contentType] == "text/html; charset=utf-8")
                #expect(html.contains("This video is private") || html.contains("The token was not accepted"), "\(html)")
                #expect(!html.contains("Secret plans"))
                #expect(r.headers[.cacheControl] == "no-store")
            }
            let allowed: [(String, HTTPFields)] = [(page + "?token=alice-token", [:]), (page, [.authorization: "Bearer alice-token"]),
                                                   (page + "?token=root-token", [:])]
            for (uri, headers) in allowed {
                let (r, html) = try await get(rig, uri, headers: headers)
                #expect(r.status == .ok, "\(uri)")
                #expect(html.contains("<h1>Secret plans</h1>"))
                #expect(r.headers[.cacheControl] == "private, no-store")
            }
        }
    }

    @Test func aFailedVideoSaysWhyEscapedAndLoadsNoPlayer() async throws {
        try await withWatch { rig in
            let (r, html) = try await get(rig, "/videos/\(rig.failed)")
            #expect(r.status == .ok)
            #expect(html.contains("Conversion failed: decoder said &lt;b&gt;no&lt;/b&gt;"), "\(html)")
            #expect(!html.contains("<video") && !html.contains("<script"))
        }
    }

    @Test func aProcessingVideoShowsItsProgressFollowsTheStreamAndStartsOnItsPreview() async throws {
        try await withWatch { rig in
            let (r, html) = try await get(rig, "/videos/\(rig.processing)")
            #expect(r.status == .ok)
            #expect(html.contains("Processing: converting, 42 %"), "\(html)")
            #expect(html.contains(#"<progress id="progress" max="1" value="0.42">"#), "\(html)")
            #expect(html.contains(#"data-stream="/api/videos/\#(rig.processing)/stream""#))
            #expect(html.contains(#"data-src="http://127.0.0.1:8080/videos/\#(rig.processing)/master.m3u8""#), "\(html)")
        }
    }

    @Test func withoutVideoJSThePageSaysSoAndStillLinksThePlaylist() async throws {
        try await withWatch(playerInstalled: false) { rig in
            let (r, html) = try await get(rig, "/videos/\(rig.ready)")
            #expect(r.status == .ok)
            #expect(html.contains("The video player (Video.js) is not installed on this server"), "\(html)")
            #expect(html.contains(#"<a href="https://bucket.example.org/videos/\#(rig.ready)/master.m3u8">"#))
            #expect(!html.contains("video.min.js"))
            let (asset, _) = try await get(rig, "/assets/videojs/video.min.js")
            #expect(asset.status == .notFound)
        }
    }

    @Test func assetsAreServedWithTheirTypeAndCachedForAYearWhenVersioned() async throws {
        try await withWatch { rig in
            let (_, html) = try await get(rig, "/videos/\(rig.ready)")
            let script = try #require(html.components(separatedBy: "<script src=\"").dropFirst()
                .compactMap { $0.components(separatedBy: "\"").first }.first { $0.hasPrefix("/assets/videojs/") })
            #expect(script.hasPrefix("/assets/videojs/video.min.js?v="), "\(script)")
            let (js, body) = try await get(rig, script)
            #expect(js.status == .ok && body == "/* Video.js stand-in */")
            #expect(js.headers[.contentType] == "text/javascript; charset=utf-8")
            #expect(js.headers[.cacheControl] == "public, max-age=31536000, immutable")
            let tag = try #require(js.headers[.eTag])
            let (again, _) = try await get(rig, script, headers: [.ifNoneMatch: tag])
            #expect(again.status == .notModified)
            let (unversioned, _) = try await get(rig, "/assets/videojs/video.min.js")
            #expect(unversioned.headers[.cacheControl] == "public, max-age=86400")
            let (css, _) = try await get(rig, "/assets/videojs/video-js.min.css")
            #expect(css.headers[.contentType] == "text/css; charset=utf-8")
            #expect(html.contains(#"<script src="/assets/watch.js?v="#) && html.contains(#"href="/assets/watch.css?v="#))
            let (own, ownBody) = try await get(rig, "/assets/watch.js")
            #expect(own.status == .ok && ownBody.contains("window.watchState"))
            for missing in ["/assets/videojs/nothing.js", "/assets/videojs/.hidden"] {
                #expect(try await get(rig, missing).0.status == .notFound, "\(missing)")
            }
        }
    }
}
