import CCurl

/// libcurl's process-wide state. `curl_global_init` is not thread-safe, so the daemon's `main` calls
/// `Curl.globalInit()` before it starts threads; every handle also calls it, which is then a no-op.
public enum Curl {
    private static let initialized: Bool = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK

    /// Initialises libcurl once per process (Swift runs a static initialiser exactly once).
    @discardableResult
    public static func globalInit() -> Bool { initialized }
}
