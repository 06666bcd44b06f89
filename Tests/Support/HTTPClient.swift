import Foundation

/// Plain HTTP over 127.0.0.1 through the curl CLI, as a user or script would call the daemon.
public enum HTTPClient {
    public struct Response: Sendable {
        public let status: Int
        public let body: String
        public var json: [String: Any]? {
            (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
        }
    }

    public static func get(_ url: String, headers: [String] = []) throws -> Response {
        try request(["-X", "GET", url], headers: headers)
    }

    /// Any curl request; the status code is read from curl's `-w`.
    public static func request(_ args: [String], headers: [String] = []) throws -> Response {
        let marker = "\n__inboxd_status__:"
        var a = ["-sS", "--max-time", "60", "-w", "\(marker)%{http_code}"]
        for h in headers { a += ["-H", h] }
        let r = try Shell.run("curl", a + args)
        guard let range = r.stdout.range(of: marker, options: .backwards) else {
            return Response(status: 0, body: r.stderr)
        }
        return Response(status: Int(r.stdout[range.upperBound...]) ?? 0, body: String(r.stdout[..<range.lowerBound]))
    }
}
