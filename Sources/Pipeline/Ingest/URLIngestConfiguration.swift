/// The `[url_ingest]` config table.
public struct URLIngestConfiguration: Sendable, Equatable {
    /// How a URL becomes media: fetched as is, or resolved by yt-dlp first (a page such as a YouTube watch URL).
    public enum Resolver: String, Sendable, Equatable, CaseIterable {
        /// yt-dlp for known page hosts and for any URL that answers with an HTML page; else a direct download.
        case auto
        /// Never yt-dlp: an HTML answer is an error.
        case direct
        /// Always yt-dlp.
        case ytDlp = "yt-dlp"
    }

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
    public var resolver: Resolver = .auto
    /// How long yt-dlp may take to resolve one page.
    public var ytDlpTimeoutSeconds: Double = 120
    /// Hosts (and their subdomains) whose URLs are pages, never media: `auto` sends them to yt-dlp directly.
    public var pageHosts: [String] = [
        "youtube.com", "youtu.be", "youtube-nocookie.com", "vimeo.com", "dailymotion.com", "twitch.tv",
        "tiktok.com", "facebook.com", "instagram.com", "x.com", "twitter.com", "soundcloud.com", "bilibili.com",
    ]

    public init() {}

    /// Checks what the config parser cannot: the `allow` entries.
    public func validate() throws(PipelineError) {
        _ = try AddressGuard(allow: allow)
    }
}
