/// Hummingbird's `MetricsMiddleware` records every request through swift-metrics under OpenTelemetry-style names
/// (`hb.requests`, `http.route`, …). This maps them onto inboxd's Prometheus names, so `/metrics` keeps
/// `inboxd_http_requests_total{method,route,code}` and gains the request duration histogram:
///
/// | Hummingbird | Prometheus |
/// |---|---|
/// | `hb.requests` | `inboxd_http_requests_total{method,route,code}` |
/// | `hb.request.errors` | `inboxd_http_request_errors_total{method,route,code}` |
/// | `http.server.request.duration` | `inboxd_http_request_duration_seconds{method,route,code}` |
/// | `http.server.active_requests` | `inboxd_http_active_requests{method}` |
///
/// Any other dotted name or label becomes its underscored form, which Prometheus accepts.
public enum HTTPMetricNames {
    public static func prometheus(_ name: String, _ labels: [(String, String)]) -> (String, [(String, String)]) {
        let renamed: String = switch name {
        case "hb.requests": "inboxd_http_requests_total"
        case "hb.request.errors": "inboxd_http_request_errors_total"
        case "http.server.request.duration": "inboxd_http_request_duration_seconds"
        case "http.server.active_requests": "inboxd_http_active_requests"
        default: underscored(name)
        }
        var mapped: [(String, String)] = labels.map { key, value in
            switch key {
            case "http.route": ("route", routeNames[value] ?? value)
            case "http.request.method": ("method", value)
            case "http.response.status_code", "error.type": ("code", value)
            default: (underscored(key), value)
            }
        }
        // One label order for every series, so each reads `{method,route,code}`.
        let order = ["method": 0, "route": 1, "code": 2]
        mapped.sort { (order[$0.0] ?? 3, $0.0) < (order[$1.0] ?? 3, $1.0) }
        return (renamed, mapped)
    }

    /// Hummingbird's placeholders for a request no route matched.
    static let routeNames = ["NotFound": "unmatched", "Unknown": "unmatched"]

    static func underscored(_ text: String) -> String {
        String(text.map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
    }
}
