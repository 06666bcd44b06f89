import Foundation
import Store

/// The HTML of `GET /videos/{video_id}`, as a pure function of the row's facts, so it is tested without a server.
/// No inline script or style: the page's behaviour is `/assets/watch.js` and its state travels in `data-`
/// attributes, so the Content-Security-Policy can allow scripts from the server itself only.
public struct WatchPage: Sendable {
    /// Which HLS engine the player uses: Chromium's and Safari's own (`native`, the default), or Video.js's VHS over
    /// Media Source Extensions (`vhs`, what other browsers use).
    public enum Engine: String, Sendable, CaseIterable {
        case native, vhs
    }

    public var videoID: String
    public var title: String
    public var status: JobStatus
    public var phase: JobPhase
    public var progress: Double
    public var error: String?
    public var videoURL: String
    public var thumbnailURL: String
    /// The master of the segments so far while the job is still processing (`preview_url`).
    public var previewURL: String?
    public var engine: Engine = .native
    public var links = Links()

    /// Where the page loads its files from, each with a content version in the query so it can be cached for a year.
    public struct Links: Sendable {
        /// Video.js's script and stylesheet; nil when `web_assets_dir` lacks them.
        public var player: (script: String, stylesheet: String)?
        public var watchScript = WebAssets.watchScriptPath
        public var watchStyle = WebAssets.watchStylePath
        public init() {}
    }

    public init(row: VideoRow, previewURL: String?) {
        videoID = row.videoID
        title = row.title
        status = row.status
        phase = row.phase
        progress = row.progress
        error = row.error
        videoURL = row.videoURL
        thumbnailURL = row.thumbnailURL
        self.previewURL = previewURL
    }

    /// The playlist the player starts with: the final master when ready, the preview while processing, else none.
    public var source: String? {
        switch status {
        case .ready: Self.isURL(videoURL) ? videoURL : nil
        case .processing: previewURL.flatMap { Self.isURL($0) ? $0 : nil }
        case .failed: nil
        }
    }

    public var poster: String? { Self.isURL(thumbnailURL) ? thumbnailURL : nil }

    /// Origins other than the page's own that the player must reach (an S3 bucket or CDN in front of it), for the CSP.
    public var mediaOrigins: [String] {
        var origins: [String] = []
        for url in [videoURL, thumbnailURL, previewURL ?? ""] {
            if let origin = Self.origin(of: url), !origins.contains(origin) { origins.append(origin) }
        }
        return origins
    }

    public var html: String {
        let e = HTML.escape
        var body = ""
        switch status {
        case .failed:
            body = """
                <p id="status" class="failed" role="alert">Conversion failed: \(e(error ?? "no error text was recorded"))</p>

                """
        case .ready, .processing:
            let attrs = [
                "data-video-id": videoID, "data-status": status.rawValue, "data-src": source ?? "",
                "data-stream": "/api/videos/\(videoID)/stream", "data-engine": engine.rawValue,
            ].sorted { $0.key < $1.key }.map { "\($0.key)=\"\(e($0.value))\"" }.joined(separator: " ")
            let posterAttr = poster.map { " poster=\"\(e($0))\"" } ?? ""
            let missing = links.player == nil ? """
                <p id="player-missing" class="failed" role="alert">The video player (Video.js) is not installed on this server, so \
                this page cannot play the video. The operator runs <code>scripts/bootstrap</code> (source tree) or reinstalls the \
                inboxd package; <code>inboxd doctor</code> shows where it looks (<code>web_assets_dir</code>).\(source.map { " The playlist itself: <a href=\"\(e($0))\">\(e($0))</a>." } ?? "")</p>

                """ : ""
            body = """
                <div id="watch" \(attrs)>
                <video id="player" class="video-js vjs-big-play-centered vjs-fluid" controls muted autoplay playsinline preload="auto"\(posterAttr)></video>
                </div>
                \(missing)<p id="status" role="status">\(e(Self.statusText(status: status, phase: phase, progress: progress)))</p>
                <progress id="progress" max="1" value="\(status == .ready ? 1 : min(max(progress, 0), 1))"\(status == .ready ? " hidden" : "")></progress>

                """
        }
        let head = links.player.map { "<link rel=\"stylesheet\" href=\"\(e($0.stylesheet))\">\n" } ?? ""
        // watch.js first: it must set Video.js's options before video.min.js runs, and starts the player once the
        // document (with video.min.js) has loaded.
        let scripts = status == .failed ? "" : "<script src=\"\(e(links.watchScript))\"></script>\n"
            + (links.player.map { "<script src=\"\(e($0.script))\"></script>\n" } ?? "")
        return """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(e(title)) · inboxd</title>
            \(head)<link rel="stylesheet" href="\(e(links.watchStyle))">
            </head>
            <body>
            <main>
            <h1>\(e(title))</h1>
            \(body)</main>
            \(scripts)</body>
            </html>

            """
    }

    /// A page without a video: 400, 401, 403, 404. Never names the video's title (a private one's would leak).
    public static func message(heading: String, text: String, style: String = WebAssets.watchStylePath) -> String {
        """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(HTML.escape(heading)) · inboxd</title>
        <link rel="stylesheet" href="\(HTML.escape(style))">
        </head>
        <body>
        <main>
        <h1>\(HTML.escape(heading))</h1>
        <p id="status" class="failed" role="alert">\(HTML.escape(text))</p>
        </main>
        </body>
        </html>

        """
    }

    /// What the status line says before the first SSE event (watch.js writes the same from each event).
    public static func statusText(status: JobStatus, phase: JobPhase, progress: Double) -> String {
        switch status {
        case .ready: return "Ready"
        case .failed: return "Failed"
        case .processing:
            let percent = Int((min(max(progress, 0), 1) * 100).rounded(.down))
            return "Processing: \(phase.rawValue), \(percent) %"
        }
    }

    static func isURL(_ text: String) -> Bool { origin(of: text) != nil || (text.hasPrefix("/") && !text.hasPrefix("//")) }

    /// `scheme://host[:port]` of an absolute http(s) URL, or nil; only characters an origin can hold, so it is safe
    /// to put into a header.
    static func origin(of text: String) -> String? {
        guard let c = URLComponents(string: text), let scheme = c.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = c.host, !host.isEmpty else { return nil }
        let hostPart = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        let origin = "\(scheme)://\(hostPart)" + (c.port.map { ":\($0)" } ?? "")
        let allowed = origin.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil || ":/.-[]_".unicodeScalars.contains($0)) }
        return allowed ? origin.lowercased() : nil
    }
}
