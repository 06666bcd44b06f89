import Foundation

/// A small real HTTP server on 127.0.0.1 (`fixtures/http_fixture.py`) for URL ingest tests: files from `root`,
/// error statuses, redirect chains, a stalled body, a lying Content-Length, chunked and oversized bodies and an
/// HTML page with a `<video>`. See the script's docstring for the paths.
public final class HTTPFixtureServer: @unchecked Sendable {
    public let port: Int
    public let root: String
    private let process: Process
    private let stdin: Pipe

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    public init(root: String) throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("fixtures/http_fixture.py").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script, root]
        let input = Pipe()
        let output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        try p.run()
        // The first line is the port; reading it also waits until the server listens.
        var line = Data()
        while true {
            let byte = output.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty || byte == Data("\n".utf8) { break }
            line.append(byte)
        }
        guard let port = Int(String(decoding: line, as: UTF8.self)) else {
            try? input.fileHandleForWriting.close()
            throw SeaweedFS.Failure("HTTP fixture server did not start (\(script))")
        }
        self.port = port
        self.root = root
        self.process = p
        self.stdin = input
    }

    deinit {
        try? stdin.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}
