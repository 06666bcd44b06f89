import Foundation
import HTTPKit
import Hummingbird

/// The files the watch page loads, all served by inboxd itself (no CDN): its own `watch.js` and `watch.css`,
/// compiled into the binary, and Video.js 7.5.5 (with its HLS engine VHS) from `<web_assets_dir>/videojs/`, which
/// `scripts/bootstrap` unpacks from PyPI's `js-videojs` (the Debian package ships it in /usr/share/inboxd/web).
/// Read once at start, so no request touches the disk; a missing file makes the page say so (and `inboxd doctor`).
public struct WebAssets: Sendable {
    public struct File: Sendable {
        public let bytes: [UInt8]
        public let contentType: String
        /// A strong ETag of the bytes; also the `?v=` the page puts on the URL, so the file can be cached for a year.
        public let tag: String
    }

    public static let vendorDirectory = "videojs"
    /// The Video.js files the page needs; the directory may hold more (the licence), which are served as well.
    public static let playerScript = "video.min.js"
    public static let playerStylesheet = "video-js.min.css"
    public static let watchScriptPath = "/assets/watch.js"
    public static let watchStylePath = "/assets/watch.css"

    public let directory: String
    public let vendor: [String: File]
    public let watchScript: File
    public let watchStyle: File

    /// Reads `<directory>/videojs/*` (regular files only, not recursively); a missing directory gives none.
    public static func load(directory: String) -> WebAssets {
        var vendor: [String: File] = [:]
        let dir = (directory as NSString).appendingPathComponent(vendorDirectory)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where isServableName(name) {
            let path = (dir as NSString).appendingPathComponent(name)
            var st = stat()
            guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG,
                  let data = FileManager.default.contents(atPath: path) else { continue }
            vendor[name] = file(Array(data), name: name)
        }
        return WebAssets(directory: dir, vendor: vendor,
                         watchScript: file(PackageResources.watch_js, name: "watch.js"),
                         watchStyle: file(PackageResources.watch_css, name: "watch.css"))
    }

    /// What the page links to, each URL with its file's version (the player's are nil when it is not installed).
    public var links: WatchPage.Links {
        var links = WatchPage.Links()
        links.watchScript = Self.watchScriptPath + "?v=" + Self.version(watchScript)
        links.watchStyle = Self.watchStylePath + "?v=" + Self.version(watchStyle)
        if let script = vendor[Self.playerScript], let style = vendor[Self.playerStylesheet] {
            links.player = ("/assets/\(Self.vendorDirectory)/\(Self.playerScript)?v=\(Self.version(script))",
                            "/assets/\(Self.vendorDirectory)/\(Self.playerStylesheet)?v=\(Self.version(style))")
        }
        return links
    }

    /// The files of the player that are missing (for the start-up warning and `inboxd doctor`).
    public var missingPlayerFiles: [String] {
        [Self.playerScript, Self.playerStylesheet].filter { vendor[$0] == nil }
    }

    /// A flat file name: no path, no dot-file.
    static func isServableName(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix(".") && name.utf8.count <= 128
            && name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil || "._-".unicodeScalars.contains($0)) }
    }

    static func version(_ file: File) -> String { String(file.tag.dropFirst().dropLast()) }

    static func file(_ bytes: [UInt8], name: String) -> File {
        let type: String = switch (name as NSString).pathExtension.lowercased() {
        case "js": "text/javascript; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "woff": "font/woff"
        case "ttf": "font/ttf"
        case "svg": "image/svg+xml"
        case "json": "application/json"
        default: "text/plain; charset=utf-8"
        }
        return File(bytes: bytes, contentType: type, tag: EntityTag.strong(for: bytes))
    }

    /// The answer for one file: a year of caching when the URL carries its version (the page's links do), else a
    /// day; `If-None-Match` with its tag → 304.
    func response(_ file: File, request: Request) -> Response {
        let versioned = request.uri.queryParameters["v"].map { String($0) == Self.version(file) } ?? false
        var headers: HTTPFields = [
            .eTag: file.tag,
            .cacheControl: versioned ? "public, max-age=31536000, immutable" : "public, max-age=86400",
            .xContentTypeOptions: "nosniff",
        ]
        if let ifNoneMatch = request.headers[.ifNoneMatch], EntityTag.ifNoneMatch(ifNoneMatch, matches: file.tag) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = file.contentType
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: file.bytes)))
    }
}
