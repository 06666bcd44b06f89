import Foundation
import HTTPKit
import Hummingbird
import Store

/// `GET /videos/{video_id}`: the watch page (the URL the seed's front end redirects to), and the files it loads
/// under `/assets/`. Every answer of the page route is HTML, errors included: 400 for a malformed id or option,
/// 404 for an unknown id, and for a private video without the owner's or an admin's token 401/403 (pages that do
/// not name the title). A browser cannot send a header on a navigation, so the token may come as `?token=`.
public enum WatchRoutes {
    /// `users` resolves a `?token=` for private videos; without it (a store that keeps no users) a private video's
    /// page answers 401 saying so.
    public static func register<Context: AuthenticatedRequestContext>(
        on router: Router<Context>, store: some StatusReading, users: UserDirectory?, assets: WebAssets
    ) {
        router.get("/videos/{video_id}") { request, context -> Response in
            let raw = try context.parameters.require("video_id")
            guard let id = VideoID.lookupKey(raw) else {
                return page(.badRequest, assets, heading: "Bad video id", text: "A video id is a UUID; '\((raw.removingPercentEncoding ?? raw).prefix(80))' is not one.")
            }
            var engine = WatchPage.Engine.native
            if let value = request.uri.queryParameters["engine"] {
                guard let e = WatchPage.Engine(rawValue: String(value)) else {
                    return page(.badRequest, assets, heading: "Bad engine", text: "engine must be native or vhs, got '\(value.prefix(40))'.")
                }
                engine = e
            }
            guard let row = try await store.video(id) else {
                return page(.notFound, assets, heading: "No such video", text: "There is no video with id \(id).")
            }
            if row.visibility == .private {
                guard let users else {
                    return page(.unauthorized, assets, heading: "Private video",
                                text: "This video is private, and this node's store keeps no users to check a token against.")
                }
                var authentication = context.authentication
                if let token = request.uri.queryParameters["token"] {
                    authentication = try await users.authentication(for: "Bearer \(token)")
                }
                if let refusal = refusal(authentication, row: row, assets: assets) { return refusal }
            }
            var watch = WatchPage(row: row, previewURL: row.previewURL)
            watch.engine = engine
            watch.links = assets.links
            return Response(status: .ok, headers: headers(for: watch, private: row.visibility == .private),
                            body: .init(byteBuffer: ByteBuffer(string: watch.html)))
        }
        router.get("/assets/watch.js") { request, _ in assets.response(assets.watchScript, request: request) }
        router.get("/assets/watch.css") { request, _ in assets.response(assets.watchStyle, request: request) }
        router.get("/assets/videojs/{file}") { request, context -> Response in
            let name = try context.parameters.require("file")
            guard let file = assets.vendor[name] else {
                throw APIError(.notFound, "not_found", "no asset \(WebAssets.vendorDirectory)/\(name.prefix(80))")
            }
            return assets.response(file, request: request)
        }
    }

    /// nil when the caller may watch this private video (its owner, or an admin), else the 401/403 page.
    static func refusal(_ authentication: Authentication, row: VideoRow, assets: WebAssets) -> Response? {
        let how = "Open the link with ?token=<your token>, or send Authorization: Bearer <token>."
        switch authentication {
        case .anonymous:
            return page(.unauthorized, assets, heading: "Private video", text: "This video is private: only its owner or an admin may watch it. \(how)")
        case .refused(let error):
            return page(.unauthorized, assets, heading: "Private video", text: "The token was not accepted (\(error.detail)). \(how)")
        case .user(let user):
            guard user.isAdmin || user.owns(row) else {
                return page(.forbidden, assets, heading: "Private video", text: "This video is private and user '\(user.username)' is not its owner.")
            }
            return nil
        }
    }

    static func page(_ status: HTTPResponse.Status, _ assets: WebAssets, heading: String, text: String) -> Response {
        var headers = securityHeaders(mediaOrigins: [])
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: WatchPage.message(heading: heading, text: text, style: assets.links.watchStyle))))
    }

    static func headers(for watch: WatchPage, private: Bool) -> HTTPFields {
        var headers = securityHeaders(mediaOrigins: watch.mediaOrigins)
        headers[.contentType] = "text/html; charset=utf-8"
        // A private page must not stay in shared caches; any page changes as the job runs.
        headers[.cacheControl] = `private` ? "private, no-store" : "no-cache"
        return headers
    }

    /// Scripts, styles and everything else from this server only; media, posters and playlists also from the
    /// origins the row's URLs name (an S3 bucket). `blob:` is how VHS hands Media Source buffers and its transmuxer
    /// worker to the browser; `data:` is Video.js's icon font, inlined in its stylesheet. No referrer: the page's URL
    /// may carry a token.
    static func securityHeaders(mediaOrigins: [String]) -> HTTPFields {
        let media = (["'self'"] + mediaOrigins).joined(separator: " ")
        let csp = [
            "default-src 'self'", "script-src 'self'", "style-src 'self'", "font-src 'self' data:",
            "img-src \(media) data:", "media-src \(media) blob:", "connect-src \(media)", "worker-src 'self' blob:",
            "object-src 'none'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
        ].joined(separator: "; ")
        return [
            .contentSecurityPolicy: csp,
            .init("Referrer-Policy")!: "no-referrer",
            .xContentTypeOptions: "nosniff",
        ]
    }
}
