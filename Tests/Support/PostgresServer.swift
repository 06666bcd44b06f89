import Foundation

/// A real PostgreSQL 15 (Debian's `postgresql-15`) for tests: a fresh cluster made by `initdb` in a temp dir and run
/// by the `postgres` server itself with `-k DIR -p PORT -c listen_addresses=127.0.0.1` (what `pg_ctl -o` would
/// pass), as an unprivileged user (`nobody` when the tests run as root: PostgreSQL refuses to run as root).
/// It runs under `SupervisedProcess`, so a test process that dies never leaves a server behind, and its directory
/// (data and log) is removed when it stops. Each test takes a database of its own (`database()`).
public final class PostgresServer: @unchecked Sendable {
    public let port: Int
    public let directory: String
    public let user = "inboxd"
    private let process: SupervisedProcess
    private let lock = NSLock()
    private var databases = 0

    public static let binDirectory = "/usr/lib/postgresql/15/bin"

    /// One server for the whole test process, started on first use.
    public static let shared: Result<PostgresServer, Error> = Result { try PostgresServer() }

    public init() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binDirectory + "/initdb") else {
            throw SeaweedFS.Failure("PostgreSQL 15 is not installed (\(Self.binDirectory)/initdb); run scripts/bootstrap")
        }
        directory = (ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp") + "/inboxd-pg-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let asUser = Self.unprivileged()
        if getuid() == 0 { _ = try Self.run("/bin/chown", ["nobody:nogroup", directory]) }
        let initdb = try Self.run("/usr/bin/env", asUser + [Self.binDirectory + "/initdb", "-D", directory + "/data", "-A", "trust",
                                                         "-U", user, "-E", "UTF8", "--no-sync", "--no-instructions"])
        guard FileManager.default.fileExists(atPath: directory + "/data/PG_VERSION") else {
            throw SeaweedFS.Failure("initdb failed: \(initdb)")
        }
        port = try SeaweedFS.freePorts(1)[0]
        // The python wrapper forwards SIGTERM to postgres (a fast shutdown), waits for it, then removes the cluster.
        let wrapper = """
            import shutil, signal, subprocess, sys
            child = subprocess.Popen(sys.argv[2:])
            signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGINT))
            code = child.wait()
            shutil.rmtree(sys.argv[1], ignore_errors=True)
            sys.exit(code)
            """
        process = try SupervisedProcess(
            ["python3", "-c", wrapper, directory] + asUser + [
                Self.binDirectory + "/postgres", "-D", directory + "/data", "-k", directory, "-p", "\(port)",
                "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off", "-c", "max_connections=200",
            ],
            logPath: directory + "/postgres.log")
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if (try? sql("SELECT 1", database: "postgres")) == "1" { return }
            guard process.isRunning else {
                throw SeaweedFS.Failure("postgres exited during start: \((try? String(contentsOfFile: directory + "/postgres.log", encoding: .utf8)) ?? "")")
            }
            usleep(50_000)
        }
        throw SeaweedFS.Failure("postgres did not accept connections within 30 s")
    }

    deinit { stop() }

    public func stop() { process.stop() }

    /// A new, empty database; its URL for `[store] url`.
    public func database() throws -> String {
        let name = lock.withLock { () -> String in
            databases += 1
            return "t\(getpid())_\(databases)"
        }
        _ = try sql("CREATE DATABASE \(name)", database: "postgres")
        return url(name)
    }

    public func url(_ database: String) -> String {
        "postgres://\(user)@127.0.0.1:\(port)/\(database)?sslmode=disable"
    }

    /// Runs SQL with psql; the rows, `|`-separated, one a line.
    @discardableResult
    public func sql(_ sql: String, url: String) throws -> String {
        try self.sql(sql, database: URLComponents(string: url)?.path.trimmingCharacters(in: CharacterSet(charactersIn: "/")) ?? "postgres")
    }

    @discardableResult
    public func sql(_ sql: String, database: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        p.arguments = ["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", "\(port)", "-U", user, "-d", database, "-c", sql]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw SeaweedFS.Failure("psql failed: \(String(decoding: errors, as: UTF8.self))")
        }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The prefix that runs a command as an unprivileged user when the tests run as root.
    private static func unprivileged() -> [String] {
        getuid() == 0 ? ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--reset-env"] : []
    }

    private static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        p.currentDirectoryURL = URL(fileURLWithPath: "/tmp")
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}
