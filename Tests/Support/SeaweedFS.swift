import Foundation

/// A real S3 server for tests: SeaweedFS's all-in-one `weed mini` on 127.0.0.1, every port chosen free, with an
/// identities file holding one admin key pair and an anonymous read-only identity (so ffprobe and plain GETs can
/// read objects without signing). Buckets are created at start; auto-creation on upload is off, so a PUT into a
/// missing bucket fails as it would on AWS.
///
/// Set `INBOXD_TEST_S3_ENDPOINT`, `INBOXD_TEST_S3_ACCESS_KEY`, `INBOXD_TEST_S3_SECRET_KEY` and
/// `INBOXD_TEST_S3_BUCKET` to use another S3 instead (then `stop`/`start` are not available).
///
/// `weed` runs under a small watchdog that kills it when its stdin closes, so a test process that dies never leaves a
/// server behind.
public final class SeaweedFS: @unchecked Sendable {
    public let endpoint: String
    public let accessKey: String
    public let secretKey: String
    public let bucket: String
    public let region = "us-east-1"
    /// False when the env vars point at another S3.
    public let isLocal: Bool
    public let dataDirectory: String

    private let lock = NSLock()
    private var process: SupervisedProcess?
    private let arguments: [String]
    private let s3Port: Int

    public static var externalFromEnvironment: Bool {
        ProcessInfo.processInfo.environment["INBOXD_TEST_S3_ENDPOINT"].map { !$0.isEmpty } ?? false
    }

    /// Starts a fresh server (or describes the external one) and waits until `bucket` answers.
    public init(bucket: String = "inboxd-test") throws {
        let env = ProcessInfo.processInfo.environment
        if let external = env["INBOXD_TEST_S3_ENDPOINT"], !external.isEmpty {
            endpoint = external
            accessKey = env["INBOXD_TEST_S3_ACCESS_KEY"] ?? ""
            secretKey = env["INBOXD_TEST_S3_SECRET_KEY"] ?? ""
            self.bucket = env["INBOXD_TEST_S3_BUCKET"] ?? bucket
            isLocal = false
            dataDirectory = ""
            arguments = []
            s3Port = 0
            return
        }
        isLocal = true
        accessKey = "inboxdtestkey"
        secretKey = "inboxd-test-secret-\(UInt32.random(in: 0...UInt32.max))"
        self.bucket = bucket
        dataDirectory = (ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp") + "/inboxd-seaweedfs-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let identities = """
            {"identities": [
              {"name": "admin", "credentials": [{"accessKey": "\(accessKey)", "secretKey": "\(secretKey)"}],
               "actions": ["Admin", "Read", "Write", "List", "Tagging"]},
              {"name": "anonymous", "actions": ["Read"]}
            ]}
            """
        try identities.write(toFile: "\(dataDirectory)/s3.json", atomically: true, encoding: .utf8)
        let p = try Self.freePorts(10)
        s3Port = p[6]
        endpoint = "http://127.0.0.1:\(s3Port)"
        arguments = [
            "-logdir=\(dataDirectory)", "mini", "-dir=\(dataDirectory)", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.telemetry=false", "-webdav=false", "-admin.ui=false",
            "-master.port=\(p[0])", "-master.port.grpc=\(p[1])",
            "-volume.port=\(p[2])", "-volume.port.grpc=\(p[3])",
            "-filer.port=\(p[4])", "-filer.port.grpc=\(p[5])",
            "-s3.port=\(p[6])", "-s3.port.grpc=\(p[7])", "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-admin.port=\(p[8])", "-admin.port.grpc=\(p[9])",
            "-s3.config=\(dataDirectory)/s3.json", "-s3.autoCreateBucket=false", "-bucket=\(bucket)",
            // `<bucket>.localhost` requests are virtual-hosted style (curl resolves *.localhost to loopback itself).
            "-s3.domainName=localhost",
        ]
        try start()
    }

    deinit {
        stop()
        if isLocal { try? FileManager.default.removeItem(atPath: dataDirectory) }
    }

    /// (Re)starts the server on the same ports and data, and waits until the bucket answers.
    public func start() throws {
        precondition(isLocal, "an external S3 cannot be started")
        let server = try SupervisedProcess(["weed"] + arguments, logPath: "\(dataDirectory)/weed.out")
        lock.withLock { process = server }
        try waitUntilReady()
    }

    /// Stops the server (SIGTERM) and waits until it exited; data stays for `start()`.
    public func stop() {
        let server = lock.withLock { () -> SupervisedProcess? in
            defer { process = nil }
            return process
        }
        server?.stop()
    }

    /// An anonymous GET of a missing key answers `NoSuchKey` once the S3 gateway is up and the bucket exists.
    private func waitUntilReady() throws {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let body = try Self.run("/usr/bin/curl", ["-s", "--max-time", "2", "\(endpoint)/\(bucket)/.inboxd-ready-probe"])
            if body.contains("NoSuchKey") { return }
            if lock.withLock({ process?.isRunning }) != true {
                throw Failure("weed mini exited during start; see \(dataDirectory)/weed.out")
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw Failure("weed mini did not become ready within 60 s; see \(dataDirectory)/weed.out")
    }

    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// Ports the kernel just handed out on 127.0.0.1; all are held until every one is chosen, so they differ.
    static func freePorts(_ count: Int) throws -> [Int] {
        var fds: [Int32] = []
        defer { fds.forEach { close($0) } }
        var ports: [Int] = []
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw Failure("socket: \(String(cString: strerror(errno)))") }
            fds.append(fd)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = 0
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                    bind(fd, sa, len) == 0 && getsockname(fd, sa, &len) == 0
                }
            }
            guard bound else { throw Failure("bind: \(String(cString: strerror(errno)))") }
            ports.append(Int(UInt16(bigEndian: addr.sin_port)))
        }
        return ports
    }
}

extension SeaweedFS {
    /// Every object key under `prefix` (ListObjectsV2, signed by curl's own SigV4), as an operator's `aws s3 ls
    /// --recursive` would list them.
    public func listKeys(prefix: String) throws -> [String] {
        var keys: [String] = []
        var token: String?
        repeat {
            var query = "list-type=2&prefix=\(prefix.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? prefix)"
            if let token { query += "&continuation-token=\(token.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? token)" }
            let body = try Self.run("/usr/bin/curl", [
                "-sS", "--max-time", "30", "--aws-sigv4", "aws:amz:\(region):s3", "--user", "\(accessKey):\(secretKey)",
                "\(endpoint)/\(bucket)?\(query)",
            ])
            guard body.contains("<ListBucketResult") else { throw Failure("listing \(bucket)/\(prefix) failed: \(body)") }
            keys += Self.xmlValues("Key", in: body)
            token = body.contains("<IsTruncated>true</IsTruncated>") ? Self.xmlValues("NextContinuationToken", in: body).first : nil
        } while token != nil
        return keys
    }

    /// An object's body, read anonymously (the test identities allow anonymous reads).
    public func object(_ key: String) throws -> String {
        try Self.run("/usr/bin/curl", ["-sSf", "--max-time", "30", "\(endpoint)/\(bucket)/\(key)"])
    }

    private static func xmlValues(_ tag: String, in text: String) -> [String] {
        text.components(separatedBy: "<\(tag)>").dropFirst().compactMap { $0.components(separatedBy: "</\(tag)>").first }
            .map { $0.replacingOccurrences(of: "&amp;", with: "&") }
    }
}
