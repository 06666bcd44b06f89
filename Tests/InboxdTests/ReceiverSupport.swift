import Foundation
import TestSupport
import Testing

/// A running daemon plus users made with `inboxd user add`, as an operator would set one up for uploaders.
struct ReceiverRig {
    let d: DaemonHarness
    /// May upload.
    let uploader: String
    /// Valid token, no upload flag.
    let viewer: String
    /// Admin + upload.
    let admin: String

    init(extraTOML: String = "", minFreeBytes: Int64 = 0, workers: Int = 2) throws {
        var o = DaemonHarness.Options()
        o.extraTOML = extraTOML
        o.minFreeBytes = minFreeBytes
        o.workers = workers
        d = try DaemonHarness(o)
        try d.start()
        uploader = try Self.addUser(d, "uploader", ["--upload"])
        viewer = try Self.addUser(d, "viewer", [])
        admin = try Self.addUser(d, "boss", ["--upload", "--admin"])
    }

    /// `inboxd user add`; the token is alone on the last line.
    static func addUser(_ d: DaemonHarness, _ name: String, _ flags: [String]) throws -> String {
        let r = try d.cli(["user", "add", name] + flags)
        #expect(r.status == 0, "\(r.stderr)")
        let token = try #require(r.stdout.split(separator: "\n").last.map(String.init))
        #expect(token.count == 64 && token.allSatisfy(\.isHexDigit), "last line is not a token: \(r.stdout)")
        return token
    }

    /// Files in `incoming/`, dot files included (a receiver's leftovers would be dot files).
    var incomingEntries: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: d.incoming)) ?? []).sorted() }

    func rowCount() throws -> Int { Int(try d.sql("SELECT COUNT(*) FROM videos")) ?? -1 }
}

/// One curl run with `-v`: status code, body, and curl's trace (interim responses, headers) on stderr.
struct CurlResult {
    let status: Int
    let body: String
    let trace: String
    let uploaded: Int

    var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] }

    static func run(_ args: [String], token: String? = nil, maxTime: Int = 60) throws -> CurlResult {
        let marker = "\n__curl__:"
        var a = ["-sS", "-v", "--max-time", String(maxTime), "-w", "\(marker)%{http_code} %{size_upload}"]
        if let token { a += ["-H", "Authorization: Bearer \(token)"] }
        let r = try Shell.run("curl", a + args)
        guard let range = r.stdout.range(of: marker, options: .backwards) else {
            return CurlResult(status: 0, body: r.stdout, trace: r.stderr, uploaded: 0)
        }
        let tail = r.stdout[range.upperBound...].split(separator: " ")
        return CurlResult(status: Int(tail.first ?? "") ?? 0, body: String(r.stdout[..<range.lowerBound]), trace: r.stderr,
                          uploaded: Int(tail.dropFirst().first ?? "") ?? 0)
    }
}

/// A file of `count` pseudo-random bytes (not media: for limit and disconnect tests that never reach a worker).
func randomFile(_ dir: TempDir, _ name: String, count: Int) throws -> String {
    let path = dir.path + "/" + name
    var g = SystemRandomNumberGenerator()
    var bytes = [UInt8](repeating: 0, count: count)
    for i in stride(from: 0, to: count, by: 8) {
        let v = g.next()
        for j in 0..<min(8, count - i) { bytes[i + j] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(j))) }
    }
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
}
