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
        (process, stdin, port) = try PythonFixture.launch("http_fixture.py", [root])
        self.root = root
    }

    deinit {
        try? stdin.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}

/// Starts a Python fixture server from `fixtures/` and reads the port it prints as its first line (which also
/// waits until it listens). The server exits when its stdin closes, so a test process that dies takes it along.
enum PythonFixture {
    static func launch(_ script: String, _ arguments: [String]) throws -> (process: Process, stdin: Pipe, port: Int) {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("fixtures/" + script).path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", path] + arguments
        let input = Pipe()
        let output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        try p.run()
        var line = Data()
        while true {
            let byte = output.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty || byte == Data("\n".utf8) { break }
            line.append(byte)
        }
        guard let port = Int(String(decoding: line, as: UTF8.self)) else {
            try? input.fileHandleForWriting.close()
            throw SeaweedFS.Failure("fixture server did not start (\(path))")
        }
        return (p, input, port)
    }
}
