import Foundation

/// Every way a pipeline step fails. `description` is what lands in the db's `error` column and in the logs,
/// so it says what went wrong in words an operator can act on.
public enum PipelineError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The job was stopped: time limit, stall watchdog or shutdown.
    case cancelled(reason: String)
    /// The input could not be opened or read as media (`path`, libav's message).
    case unreadableMedia(path: String, reason: String)
    /// The input has no video stream.
    case noVideoStream(path: String)
    /// A libav call failed (`step`, libav's message).
    case libav(step: String, reason: String)
    /// The media's checksum differs from the sidecar's `sha256`.
    case checksumMismatch(expected: String, actual: String)
    /// A download failed (URL ingest).
    case download(url: String, reason: String)
    /// A URL ingest target is not allowed (SSRF guard).
    case forbiddenTarget(url: String, reason: String)
    /// Publishing failed (`key` or path, reason such as `403 SignatureDoesNotMatch`).
    case publish(target: String, reason: String)
    /// Local I/O failed.
    case io(path: String, reason: String)
    case invalidArgument(String)
    /// No space left on the device (ENOSPC/EDQUOT) while writing `path`. The daemon defers the job: freeing space
    /// is all it takes.
    case noSpace(path: String)
    /// A fault that may pass once the other side recovers (S3 or the network down after the in-request retries,
    /// HTTP 5xx/429 downloads, connection resets). The daemon defers the job instead of failing it.
    indirect case transient(PipelineError)

    public var description: String {
        switch self {
        case .cancelled(let reason): "cancelled: \(reason)"
        case .unreadableMedia(let path, let reason): "cannot read media \(path): \(reason)"
        case .noVideoStream(let path): "no video stream in \(path)"
        case .libav(let step, let reason): "\(step) failed: \(reason)"
        case .checksumMismatch(let expected, let actual): "sha256 mismatch: sidecar says \(expected), media is \(actual)"
        case .download(let url, let reason): "download \(url): \(reason)"
        case .forbiddenTarget(let url, let reason): "URL ingest refused for \(url): \(reason)"
        case .publish(let target, let reason): "\(target): \(reason)"
        case .io(let path, let reason): "\(path): \(reason)"
        case .invalidArgument(let message): message
        case .noSpace(let path): "\(path): no space left on device"
        case .transient(let inner): inner.description
        }
    }

    /// An errno failure while touching `path`; ENOSPC and EDQUOT become `noSpace`.
    public static func io(path: String, errno code: Int32) -> PipelineError {
        code == ENOSPC || code == EDQUOT ? .noSpace(path: path) : .io(path: path, reason: String(cString: strerror(code)))
    }

    /// A Foundation file error while `what`-ing `path`; a full disk becomes `noSpace`.
    public static func io(path: String, _ what: String, _ error: Error) -> PipelineError {
        let ns = error as NSError
        let posix = (ns.domain == NSPOSIXErrorDomain ? ns : ns.userInfo[NSUnderlyingErrorKey] as? NSError)
            .flatMap { $0.domain == NSPOSIXErrorDomain ? Int32($0.code) : nil }
        if posix == ENOSPC || posix == EDQUOT || ns.code == CocoaError.fileWriteOutOfSpace.rawValue { return .noSpace(path: path) }
        return .io(path: path, reason: "\(what): \(posix.map { String(cString: strerror($0)) } ?? ns.localizedDescription)")
    }

    /// Whether retrying later may succeed where this attempt failed.
    public var isTransient: Bool {
        switch self {
        case .transient, .noSpace: true
        default: false
        }
    }
}
