import CCurl
import Foundation

/// What one webhook POST came to.
public enum WebhookOutcome: Sendable, Equatable {
    /// The receiver answered (any status; 2xx means delivered).
    case answered(status: Int)
    /// The address guard refused the URL's address: permanent, never retried.
    case refused(String)
    /// No answer: connection refused or reset, DNS failure, timeout.
    case failed(String)
}

/// POSTs signed webhook bodies with libcurl, through the URL-ingest SSRF guard (`[url_ingest] allow`), checked at
/// connect time against the address actually dialled. No redirects are followed (a webhook answer is final), no
/// proxy is used. Blocking: run it on a dedicated thread.
public struct WebhookPoster: Sendable {
    private let addressGuard: AddressGuard
    private let timeoutSeconds: Double

    public init(allow: [String], timeoutSeconds: Double) throws(PipelineError) {
        addressGuard = try AddressGuard(allow: allow)
        self.timeoutSeconds = timeoutSeconds
    }

    /// Why `url` can never be a webhook target as written (not http(s), no host, or a literal or `localhost`
    /// address the guard refuses); nil when it may be tried. Host names are judged again at every connect.
    public func refusal(forURL url: String) -> String? {
        Self.refusal(forURL: url, guard: addressGuard)
    }

    /// The same check with a plain allow-list, for config loading and intake (a bad entry is reported elsewhere).
    public static func refusal(forURL url: String, allow: [String]) -> String? {
        guard let g = try? AddressGuard(allow: allow) else { return nil }
        return refusal(forURL: url, guard: g)
    }

    private static func refusal(forURL url: String, guard addressGuard: AddressGuard) -> String? {
        guard let c = URLComponents(string: url), let scheme = c.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = c.host, !host.isEmpty
        else { return "\(url) is not an http(s) URL with a host" }
        let lower = host.lowercased()
        if lower == "localhost" || lower.hasSuffix(".localhost") {
            for loopback in ["127.0.0.1", "::1"] {
                if let reason = addressGuard.refusal(for: IPAddress(loopback)!) { return "\(host): \(reason)" }
            }
            return nil
        }
        guard let literal = IPAddress(host) else { return nil }
        return addressGuard.refusal(for: literal)
    }

    /// `shouldAbort` is asked as bytes move (and about once a second while waiting); true stops the POST (shutdown).
    public func post(url: String, body: [UInt8], headers: [(String, String)], shouldAbort: @escaping @Sendable () -> Bool) -> WebhookOutcome {
        if let refusal = refusal(forURL: url) { return .refused(refusal) }
        let easy: CurlEasy
        do { easy = try CurlEasy() } catch { return .failed(error.description) }
        easy.set(CURLOPT_URL, url)
        guard (try? easy.require(CURLOPT_PROTOCOLS_STR, "http,https", name: "CURLOPT_PROTOCOLS_STR")) != nil,
              (try? easy.require(CURLOPT_PROXY, "", name: "CURLOPT_PROXY")) != nil,
              (try? easy.setConnectFilter { addressGuard.refusal(for: $0) }) != nil
        else { return .failed("libcurl refused a required option; not sent") }
        easy.set(CURLOPT_FOLLOWLOCATION, false)
        easy.set(CURLOPT_CUSTOMREQUEST, "POST")
        easy.set(CURLOPT_CONNECTTIMEOUT_MS, Int(min(timeoutSeconds, 10) * 1000))
        easy.set(CURLOPT_TIMEOUT_MS, Int(timeoutSeconds * 1000))
        easy.setHeaders(headers + [("Expect", "")])
        easy.setUploadBody(.bytes(body))
        easy.setSink(.memory(limit: 1024))
        easy.setProgressHook { _ in shouldAbort() }
        let code = easy.perform()
        if code != CURLE_OK {
            if easy.aborted { return .failed("stopped: inboxd is shutting down") }
            if let refusal = easy.refusal, code == CURLE_COULDNT_CONNECT { return .refused(refusal) }
            return .failed("\(easy.errorText(code)) (curl error \(code.rawValue))")
        }
        return .answered(status: easy.responseCode)
    }
}
