import CCurl
import Foundation
import Logging

/// What a URL ingest download produced.
public struct DownloadResult: Sendable, Equatable {
    public var bytes: Int64
    /// The media URL after redirects (for a page, the media URL yt-dlp found).
    public var finalURL: String
    public var contentType: String?
    /// The page that yt-dlp resolved, when it was used.
    public var resolvedPage: String?

    public init(bytes: Int64, finalURL: String, contentType: String?, resolvedPage: String? = nil) {
        self.bytes = bytes
        self.finalURL = finalURL
        self.contentType = contentType
        self.resolvedPage = resolvedPage
    }
}

/// Downloads a URL ingest's `source_url` with libcurl: http(s) only, few redirects, a size limit, connect and
/// stall timeouts, and the SSRF guard on every address curl connects to. Page URLs (YouTube and the like, or any
/// URL answering with HTML) are resolved to their media URL with yt-dlp first. Blocking: run it on a dedicated
/// thread. On failure nothing is left at `path`.
public struct URLDownloader: Sendable {
    private let configuration: URLIngestConfiguration
    private let logger: Logger

    public init(configuration: URLIngestConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public func download(url: String, to path: String, control: JobControl) throws(PipelineError) -> DownloadResult {
        let addressGuard = try AddressGuard(allow: configuration.allow)
        let host = try Self.httpHost(of: url)
        switch configuration.resolver {
        case .direct:
            if case .file(let result) = try fetch(url, to: path, guard: addressGuard, detectPage: true, control: control) {
                return result
            }
            throw .download(
                url: url, reason: "the URL is a web page (text/html), not a media file ([url_ingest] resolver is \"direct\")")
        case .ytDlp:
            return try downloadPage(url, to: path, guard: addressGuard, control: control)
        case .auto:
            if isPageHost(host) { return try downloadPage(url, to: path, guard: addressGuard, control: control) }
            if case .file(let result) = try fetch(url, to: path, guard: addressGuard, detectPage: true, control: control) {
                return result
            }
            logger.info("URL ingest: the URL is a web page, resolving it with yt-dlp", metadata: ["url": "\(url)"])
            return try downloadPage(url, to: path, guard: addressGuard, control: control)
        }
    }

    private func isPageHost(_ host: String) -> Bool {
        let h = host.lowercased()
        return configuration.pageHosts.contains { h == $0 || h.hasSuffix("." + $0) }
    }

    /// The host of an http(s) URL; anything else is refused.
    static func httpHost(of url: String) throws(PipelineError) -> String {
        guard let c = URLComponents(string: url), let scheme = c.scheme?.lowercased() else {
            throw .invalidArgument("URL ingest: \"\(url)\" is not a valid URL")
        }
        guard scheme == "http" || scheme == "https" else {
            throw .forbiddenTarget(url: url, reason: "only http and https URLs are allowed, not \(scheme)")
        }
        guard let host = c.host, !host.isEmpty else { throw .invalidArgument("URL ingest: \"\(url)\" has no host") }
        return host
    }

    private func downloadPage(_ url: String, to path: String, guard addressGuard: AddressGuard, control: JobControl)
        throws(PipelineError) -> DownloadResult
    {
        let host = try Self.httpHost(of: url)
        // yt-dlp connects on its own, outside the connect-time guard: check the page's addresses first.
        for address in HostResolver.addresses(of: host) {
            if let reason = addressGuard.refusal(for: address) { throw .forbiddenTarget(url: url, reason: reason) }
        }
        let media = try YtDlpResolver(configuration: configuration).mediaURL(forPage: url, control: control)
        logger.info("URL ingest: yt-dlp resolved the page", metadata: ["url": "\(url)", "media_url": "\(media)"])
        _ = try Self.httpHost(of: media)
        guard case .file(var result) = try fetch(media, to: path, guard: addressGuard, detectPage: false, control: control)
        else { throw .download(url: url, reason: "yt-dlp gave a URL that is not media: \(media)") }
        result.resolvedPage = url
        return result
    }

    private enum Fetched {
        case file(DownloadResult)
        /// The answer was an HTML page (only when asked to detect pages); nothing was kept.
        case page
    }

    private func fetch(_ url: String, to path: String, guard addressGuard: AddressGuard, detectPage: Bool, control: JobControl)
        throws(PipelineError) -> Fetched
    {
        let partial = path + ".part"
        let fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw .io(path: partial, errno: errno) }
        var kept = false
        defer {
            close(fd)
            if !kept { unlink(partial) }
        }
        let easy = try CurlEasy()
        easy.set(CURLOPT_URL, url)
        try easy.require(CURLOPT_PROTOCOLS_STR, "http,https", name: "CURLOPT_PROTOCOLS_STR")
        try easy.require(CURLOPT_REDIR_PROTOCOLS_STR, "http,https", name: "CURLOPT_REDIR_PROTOCOLS_STR")
        easy.set(CURLOPT_FOLLOWLOCATION, true)
        easy.set(CURLOPT_MAXREDIRS, configuration.maxRedirects)
        // A proxy from the environment would be the only address the guard sees.
        try easy.require(CURLOPT_PROXY, "", name: "CURLOPT_PROXY")
        easy.set(CURLOPT_USERAGENT, "inboxd (URL ingest)")
        easy.set(CURLOPT_CONNECTTIMEOUT_MS, Int(configuration.connectTimeoutSeconds * 1000))
        easy.set(CURLOPT_LOW_SPEED_LIMIT, configuration.lowSpeedBytesPerSecond)
        easy.set(CURLOPT_LOW_SPEED_TIME, configuration.lowSpeedSeconds)
        easy.set(CURLOPT_MAXFILESIZE_LARGE, offset: configuration.maxBytes)
        easy.maxBodyBytes = configuration.maxBytes
        easy.setSink(.file(fd: fd))
        try easy.setConnectFilter { addressGuard.refusal(for: $0) }
        easy.setBodyGate { status, headers in
            status < 400 && !(detectPage && Self.isHTML(headers["content-type"]))
        }
        var reported: Int64 = 0
        easy.setProgressHook { p in
            // curl calls this far more often than the job needs; every 1 % or 256 KiB is enough for the watchdog.
            if p.downloaded - reported >= min(max(p.downloadTotal / 100, 1), 256 << 10) {
                reported = p.downloaded
                if p.downloadTotal > 0 {
                    control.progressed(Double(p.downloaded) / Double(p.downloadTotal))
                } else {
                    control.heartbeat(position: p.downloaded)
                }
            }
            return control.isCancelled
        }
        let code = easy.perform()
        let status = easy.responseCode
        let via = easy.effectiveURL.flatMap { $0 == url ? nil : " (at \($0))" } ?? ""

        if easy.bodyRejected {
            if status >= 400 { throw Self.httpFailure(url: url, status: status, via: via) }
            return .page
        }
        if code != CURLE_OK {
            if let refusal = easy.refusal, code == CURLE_COULDNT_CONNECT {
                throw .forbiddenTarget(url: url, reason: refusal + via)
            }
            if easy.aborted, control.isCancelled { throw .cancelled(reason: control.cancelReason ?? "cancelled") }
            if let failure = easy.writeFailure {
                throw easy.writeErrno.map { .io(path: partial, errno: $0) } ?? .io(path: partial, reason: failure)
            }
            if easy.bodyLimitExceeded || code == CURLE_FILESIZE_EXCEEDED {
                throw .download(
                    url: url, reason: "larger than the limit of \(configuration.maxBytes) bytes ([url_ingest] max_bytes)\(via)")
            }
            let reason: String
            switch code {
            case CURLE_TOO_MANY_REDIRECTS:
                throw .download(url: url, reason: "more than \(configuration.maxRedirects) redirects" + via)
            case CURLE_URL_MALFORMAT:
                throw .download(url: url, reason: "\(easy.errorText(code)) (curl error \(code.rawValue))" + via)
            case CURLE_UNSUPPORTED_PROTOCOL:
                throw .forbiddenTarget(url: url, reason: "redirected to a scheme other than http or https\(via)")
            case CURLE_OPERATION_TIMEDOUT where easy.receivedBytes > 0 || status > 0:
                reason = "stalled after \(easy.receivedBytes) bytes: \(easy.errorText(code))"
            case CURLE_PARTIAL_FILE:
                let expected = easy.contentLength.map { " of \($0)" } ?? ""
                reason = "the connection ended after \(easy.receivedBytes)\(expected) bytes (incomplete transfer)"
            default:
                reason = "\(easy.errorText(code)) (curl error \(code.rawValue))"
            }
            // Resets, timeouts, refused connections, DNS trouble, cut-short bodies: the network may recover.
            throw .transient(.download(url: url, reason: reason + via))
        }
        guard (200..<300).contains(status) else { throw Self.httpFailure(url: url, status: status, via: via) }
        if detectPage, easy.receivedBytes == 0, Self.isHTML(easy.contentType) { return .page }
        if let expected = easy.contentLength, expected != easy.receivedBytes {
            throw .download(url: url, reason: "got \(easy.receivedBytes) of the announced \(expected) bytes\(via)")
        }
        guard fsync(fd) == 0, rename(partial, path) == 0 else { throw .io(path: path, errno: errno) }
        kept = true
        return .file(DownloadResult(bytes: easy.receivedBytes, finalURL: easy.effectiveURL ?? url, contentType: easy.contentType))
    }

    /// 5xx and 429 may pass (the job is retried later); any other status is the URL's final answer.
    private static func httpFailure(url: String, status: Int, via: String) -> PipelineError {
        let failure = PipelineError.download(url: url, reason: "HTTP \(status)\(via)")
        return status >= 500 || status == 429 ? .transient(failure) : failure
    }

    private static func isHTML(_ contentType: String?) -> Bool {
        guard let type = contentType?.lowercased() else { return false }
        return type.hasPrefix("text/html") || type.hasPrefix("application/xhtml")
    }
}
