import Foundation
import Logging
import Testing
import TestSupport

@testable import Pipeline

/// One SeaweedFS server per suite that carries the `.seaweedFS` trait, stopped when the suite ends.
struct SeaweedFSTrait: SuiteTrait, TestScoping {
    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        let server = try await Task.detached { try SeaweedFS() }.value
        try await S3TestServer.waitUntilSignedRequestsWork(server)
        try await S3TestServer.$current.withValue(server) { try await function() }
        server.stop()
    }
}

extension Trait where Self == SeaweedFSTrait {
    static var seaweedFS: Self { SeaweedFSTrait() }
}

enum S3TestServer {
    @TaskLocal static var current: SeaweedFS?

    static var server: SeaweedFS {
        get throws {
            guard let current else { throw SeaweedFS.Failure("no SeaweedFS: the suite needs the .seaweedFS trait") }
            return current
        }
    }

    /// Fast retries so outage and failure tests stay short; a restart of a few seconds still fits in 8 tries.
    static func configuration(_ server: SeaweedFS) -> S3Configuration {
        var c = S3Configuration(
            endpoint: server.endpoint, bucket: server.bucket, accessKeyID: server.accessKey, secretAccessKey: server.secretKey)
        c.region = server.region
        c.maxAttempts = 8
        c.retryBaseDelaySeconds = 0.2
        c.retryMaxDelaySeconds = 2
        c.connectTimeoutSeconds = 2
        c.requestTimeoutSeconds = 30
        return c
    }

    /// A signed HEAD of the bucket must succeed before tests start (the server checks our signatures from now on).
    static func waitUntilSignedRequestsWork(_ server: SeaweedFS) async throws {
        let client = try S3Client(configuration: configuration(server), logger: Logger(label: "test"))
        try await Task.detached {
            _ = try client.send(S3Request(method: "HEAD", key: ""), on: try CurlEasy(), control: JobControl())
        }.value
    }

    /// A signed HEAD of one object.
    static func head(_ key: String, _ configuration: S3Configuration) throws -> S3Response {
        let client = try S3Client(configuration: configuration, logger: Logger(label: "test"))
        return try client.send(S3Request(method: "HEAD", key: key), on: try CurlEasy(), control: JobControl())
    }

    /// A signed GET of one object into a file.
    static func get(_ key: String, to path: String, _ configuration: S3Configuration) throws {
        let client = try S3Client(configuration: configuration, logger: Logger(label: "test"))
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        defer { close(fd) }
        var request = S3Request(method: "GET", key: key)
        request.responseFile = fd
        _ = try client.send(request, on: try CurlEasy(), control: JobControl())
    }
}

/// A real HLS job directory made with the ffmpeg CLI, laid out as the converter writes it:
/// `master.m3u8`, `240p/index.m3u8`, `240p/seg_NNN.ts`, `thumbnail.jpg`. Made once per test process.
enum HLSFixture {
    static let seconds = 12.0

    private static let made = Result<String, any Error> {
        let dir = NSTemporaryDirectory() + "inboxd-hls-fixture-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try run("ffmpeg", [
            "-v", "error", "-f", "lavfi", "-i", "testsrc=size=426x240:rate=25", "-f", "lavfi",
            "-i", "sine=frequency=440:sample_rate=44100", "-t", "\(seconds)", "-c:v", "libx264", "-preset", "ultrafast",
            "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-f", "hls", "-hls_time", "1",
            "-hls_playlist_type", "vod", "-hls_segment_filename", "\(dir)/%v/seg_%03d.ts",
            "-var_stream_map", "v:0,a:0,name:240p", "-master_pl_name", "master.m3u8", "\(dir)/%v/index.m3u8",
        ])
        try run("ffmpeg", [
            "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x180", "-frames:v", "1", "\(dir)/thumbnail.jpg",
        ])
        return dir
    }

    static var directory: String { get throws { try made.get() } }

    /// Copies the fixture to a fresh directory a test may change.
    static func copy() throws -> String {
        let dir = NSTemporaryDirectory() + "inboxd-hls-\(UUID().uuidString.prefix(8))"
        try FileManager.default.copyItem(atPath: try directory, toPath: dir)
        return dir
    }

    @discardableResult
    static func run(_ tool: String, _ arguments: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [tool] + arguments
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw SeaweedFS.Failure("\(tool) \(arguments.joined(separator: " ")) failed") }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Relative paths of every file under `dir`.
func filesUnder(_ dir: String) -> [String] {
    (FileManager.default.enumerator(atPath: dir)?.allObjects as? [String] ?? []).filter { rel in
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: "\(dir)/\(rel)", isDirectory: &isDir) && !isDir.boolValue
    }.sorted()
}
