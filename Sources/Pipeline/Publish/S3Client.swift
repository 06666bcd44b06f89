import CCurl
import Foundation
import Logging

/// One S3 request: the method, the object key (empty for the bucket itself), query, extra headers and body.
struct S3Request {
    var method: String
    var key: String
    var query: [(String, String)] = []
    var headers: [(String, String)] = []
    var body: CurlEasy.Body = .none
    /// Hex SHA-256 of the body, or `SigV4Signer.unsignedPayload`.
    var payloadHash = SigV4Signer.unsignedPayload
    /// Where a GET's body goes; nil keeps up to 1 MiB in `S3Response.body`.
    var responseFile: Int32?
    /// A 404 is an answer (the object does not exist), not a failure.
    var allowMissing = false

    /// How errors name the request: `S3 PUT videos/<id>/master.m3u8`.
    var name: String { "S3 \(method) \(key)" }
}

struct S3Response {
    var status: Int
    /// Lower-cased names.
    var headers: [String: String]
    var body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }

    /// The text of the first `<tag>…</tag>` in an XML body (S3 answers are flat enough for this).
    func xmlValue(_ tag: String) -> String? {
        let t = text
        guard let open = t.range(of: "<\(tag)>"), let close = t.range(of: "</\(tag)>", range: open.upperBound..<t.endIndex)
        else { return nil }
        return String(t[open.upperBound..<close.lowerBound])
    }

    /// An `<Error>` document, which S3 may send even with 200 (CompleteMultipartUpload).
    var errorCode: String? { text.contains("<Error>") ? xmlValue("Code") ?? "Error" : nil }
}

/// Signs and sends S3 requests over one curl handle per calling thread, retrying transient failures with
/// exponential backoff and jitter. Blocking: call it from dedicated threads only.
final class S3Client: Sendable {
    enum Outcome {
        case done(S3Response)
        case transient(String)
        case fatal(PipelineError)
    }

    let configuration: S3Configuration
    private let logger: Logger
    private let signer: SigV4Signer
    private let scheme: String
    /// `host[:port]` of requests, as curl puts it in the Host header (virtual-hosted style adds the bucket).
    let requestHost: String
    private let endpointHost: String
    private let basePath: String

    init(configuration: S3Configuration, logger: Logger) throws(PipelineError) {
        let raw = configuration.endpoint.contains("://") ? configuration.endpoint : "https://" + configuration.endpoint
        guard let url = URLComponents(string: raw), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
            var host = url.host, !host.isEmpty
        else { throw .invalidArgument("[s3] endpoint \"\(configuration.endpoint)\" is not an http(s) URL") }
        guard !configuration.bucket.isEmpty else { throw .invalidArgument("[s3] bucket is empty") }
        guard !configuration.accessKeyID.isEmpty, !configuration.secretAccessKey.isEmpty else {
            throw .invalidArgument(
                "[s3] has no credentials: set access_key_id and secret_access_key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        }
        if host.contains(":"), !host.hasPrefix("[") { host = "[\(host)]" }
        if let port = url.port, port != (scheme == "https" ? 443 : 80) { host += ":\(port)" }
        self.configuration = configuration
        self.logger = logger
        self.scheme = scheme
        self.endpointHost = host
        self.requestHost = configuration.pathStyle ? host : "\(configuration.bucket).\(host)"
        self.basePath = url.path.hasSuffix("/") ? String(url.path.dropLast()) : url.path
        self.signer = SigV4Signer(
            accessKeyID: configuration.accessKeyID, secretAccessKey: configuration.secretAccessKey,
            sessionToken: configuration.sessionToken, region: configuration.region)
    }

    /// The bucket's path-style URL, e.g. `http://127.0.0.1:8333/videos-bucket`.
    var bucketURL: String {
        "\(scheme)://\(endpointHost)\(basePath)/\(SigV4Signer.uriEncode(configuration.bucket, keepSlash: false))"
    }

    private func canonicalURI(for key: String) -> String {
        let encodedKey = SigV4Signer.uriEncode(key, keepSlash: true)
        if configuration.pathStyle {
            let bucket = SigV4Signer.uriEncode(configuration.bucket, keepSlash: false)
            return key.isEmpty ? "\(basePath)/\(bucket)" : "\(basePath)/\(bucket)/\(encodedKey)"
        }
        return "\(basePath)/\(encodedKey)"
    }

    /// Sends `request`, retrying transient failures up to `maxAttempts` times. `check` may turn a 2xx answer into a
    /// failure (an `<Error>` inside a 200). `onUpload` sees the bytes sent of the current attempt.
    func send(
        _ request: S3Request, on easy: CurlEasy, control: JobControl,
        onUpload: ((Int64) -> Void)? = nil, check: ((S3Response) -> Outcome)? = nil
    ) throws(PipelineError) -> S3Response {
        var attempt = 1
        while true {
            try control.check()
            var outcome = attemptOnce(request, on: easy, control: control, onUpload: onUpload)
            if case .done(let response) = outcome, let check { outcome = check(response) }
            switch outcome {
            case .done(let response):
                return response
            case .fatal(let error):
                throw error
            case .transient(let reason):
                guard attempt < configuration.maxAttempts else {
                    throw .transient(.publish(target: request.name, reason: "\(reason) (gave up after \(attempt) attempts)"))
                }
                let delay = backoff(attempt: attempt)
                logger.warning(
                    "S3 request failed, retrying",
                    metadata: [
                        "s3.request": "\(request.name)", "s3.error": "\(reason)", "s3.attempt": "\(attempt)",
                        "s3.retry_in_s": "\(String(format: "%.2f", delay))",
                    ])
                try pause(delay, control: control)
                attempt += 1
            }
        }
    }

    /// One try, no retry; for best-effort cleanup such as aborting a multipart upload.
    func attemptOnce(
        _ request: S3Request, on easy: CurlEasy, control: JobControl, onUpload: ((Int64) -> Void)? = nil
    ) -> Outcome {
        easy.reset()
        let uri = canonicalURI(for: request.key)
        let query = SigV4Signer.canonicalQuery(request.query)
        let headers = signer.sign(
            method: request.method, host: requestHost, canonicalURI: uri, canonicalQuery: query,
            headers: request.headers, payloadHash: request.payloadHash)
        easy.set(CURLOPT_URL, "\(scheme)://\(requestHost)\(uri)\(query.isEmpty ? "" : "?" + query)")
        easy.set(CURLOPT_PATH_AS_IS, true)
        do throws(PipelineError) { try easy.require(CURLOPT_PROTOCOLS_STR, "http,https", name: "CURLOPT_PROTOCOLS_STR") } catch {
            return .fatal(error)
        }
        easy.set(CURLOPT_CONNECTTIMEOUT_MS, Int(configuration.connectTimeoutSeconds * 1000))
        easy.set(CURLOPT_TIMEOUT_MS, Int(configuration.requestTimeoutSeconds * 1000))
        switch request.method {
        case "PUT":
            easy.setUploadBody(request.body)
        case "POST":
            easy.setUploadBody(request.body)
            easy.set(CURLOPT_CUSTOMREQUEST, "POST")
        case "HEAD":
            easy.set(CURLOPT_NOBODY, true)
        case "GET":
            break
        default:
            easy.set(CURLOPT_CUSTOMREQUEST, request.method)
        }
        easy.setHeaders(headers)
        easy.setSink(request.responseFile.map { .file(fd: $0) } ?? .memory(limit: 1 << 20))
        easy.setProgressHook { progress in
            onUpload?(progress.uploaded)
            return control.isCancelled
        }
        let code = easy.perform()
        if code != CURLE_OK {
            if easy.aborted, control.isCancelled { return .fatal(.cancelled(reason: control.cancelReason ?? "cancelled")) }
            if let failure = easy.writeFailure {
                return .fatal(.publish(target: request.name, reason: "reading the file failed: \(failure)"))
            }
            let text = "\(easy.errorText(code)) (curl error \(code.rawValue))"
            switch code {
            case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT, CURLE_PEER_FAILED_VERIFICATION,
                CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CERTPROBLEM:
                return .fatal(.publish(target: request.name, reason: text))
            default:
                return .transient(text)
            }
        }
        let response = S3Response(status: easy.responseCode, headers: easy.responseHeaders, body: easy.receivedBody)
        return Self.classify(response, request: request)
    }

    static let retryableCodes: Set = ["SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "OperationAborted"]

    /// 2xx (and 404 when the request allows a missing object) is done; 5xx, 429 and S3's "slow down / try again" codes are transient; any other status fails at once.
    static func classify(_ response: S3Response, request: S3Request) -> Outcome {
        let status = response.status
        if (200..<300).contains(status) || (status == 404 && request.allowMissing) { return .done(response) }
        let code = response.xmlValue("Code")
        let summary = "\(status) \(code ?? httpReason(status))"
        if status >= 500 || status == 429 || retryableCodes.contains(code ?? "") { return .transient(summary) }
        var reason = summary
        if let message = response.xmlValue("Message"), !message.isEmpty { reason += ": \(message)" }
        if let hint = hint(code: code, status: status) { reason += " (\(hint))" }
        return .fatal(.publish(target: request.name, reason: reason))
    }

    private static func hint(code: String?, status: Int) -> String? {
        switch code {
        case "SignatureDoesNotMatch": "check [s3] secret_access_key or AWS_SECRET_ACCESS_KEY"
        case "InvalidAccessKeyId": "check [s3] access_key_id or AWS_ACCESS_KEY_ID"
        case "NoSuchBucket": "create the bucket or fix [s3] bucket"
        case "RequestTimeTooSkewed": "the system clock is off; sync it"
        case "AccessDenied": "the key lacks write permission on the bucket"
        default: nil
        }
    }

    private static func httpReason(_ status: Int) -> String {
        switch status {
        case 400: "Bad Request"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 409: "Conflict"
        case 411: "Length Required"
        case 412: "Precondition Failed"
        case 413: "Payload Too Large"
        default: "HTTP error"
        }
    }

    private func backoff(attempt: Int) -> Double {
        let full = min(configuration.retryBaseDelaySeconds * pow(2, Double(attempt - 1)), configuration.retryMaxDelaySeconds)
        return full * Double.random(in: 0.5...1.0)
    }

    /// Sleeps on the calling (dedicated) thread, waking early when the job is cancelled.
    private func pause(_ seconds: Double, control: JobControl) throws(PipelineError) {
        let until = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < until {
            try control.check()
            usleep(50_000)
        }
    }
}
