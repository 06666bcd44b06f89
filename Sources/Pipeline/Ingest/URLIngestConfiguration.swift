/// The `[url_ingest]` config table.
public struct URLIngestConfiguration: Sendable, Equatable {
    /// Addresses or CIDRs that may be reached although they are loopback/private/link-local (default: none).
    public var allow: [String] = []
    public var maxBytes: Int64 = 500_000_000
    public var maxRedirects: Int = 5
    public var connectTimeoutSeconds: Double = 15
    /// A transfer slower than `lowSpeedBytesPerSecond` for `lowSpeedSeconds` is aborted as stalled.
    public var lowSpeedBytesPerSecond: Int = 1024
    public var lowSpeedSeconds: Int = 30
    /// Path or name of yt-dlp, used to resolve page URLs (YouTube and the like) when installed.
    public var ytDlp: String = "yt-dlp"

    public init() {}
}
