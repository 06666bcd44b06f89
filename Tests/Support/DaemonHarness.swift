import Foundation

/// Starts the built `inboxd` binary (env `INBOXD_BIN`, else `.build/debug/inboxd`) on a temp inbox with its own
/// config, db, output dir and port, as an operator would, and offers the user's view of it: drop files, poll
/// the status API, read the log, run admin subcommands.
public final class DaemonHarness: @unchecked Sendable {
    public let root: String
    public let inbox: String
    public let db: String
    public let output: String
    public let configPath: String
    /// Chosen free at init; a first start that finds it taken meanwhile (another test process, an outgoing
    /// connection's local port) moves to a new one, see `start()`.
    public private(set) var port: Int
    public var baseURL: String { "http://127.0.0.1:\(port)" }
    public var incoming: String { inbox + "/incoming" }
    public let logPath: String
    private var process: Process?
    private var started = false
    private let lock = NSLock()
    private let environment: [String: String]
    private let launcher: [String]

    public struct Options {
        public var settleSeconds = 1.0
        public var orphanSeconds = 3600.0
        public var workers = 2
        public var stallSeconds = 60.0
        public var jobTimeLimitSeconds = 600.0
        public var recoveryPollSeconds = 0.5
        public var shutdownGraceSeconds = 20.0
        /// The receiver answers 507 below this much free space on the inbox filesystem.
        public var minFreeBytes: Int64 = 0
        /// Extra TOML appended verbatim (e.g. an `[s3]` table).
        public var extraTOML = ""
        /// `convert_policy` for the daemon, nil for its default (`idle`). Tests pin `normal`: the two test processes of
        /// `make test` share 2 cores with Chromium, ffmpeg and sshd, and a conversion under `SCHED_IDLE` waits for all of
        /// them (`ConversionPriorityTests` checks the default).
        public var convertPolicy: String? = "normal"
        /// Share the inbox and db of another harness (a second daemon on the same inbox).
        public var sharing: DaemonHarness?
        /// Put the db and/or the output directory elsewhere (e.g. on a small filesystem made by the test).
        public var db: String?
        public var output: String?
        /// The watch page's player files (`web_assets_dir`); nil = the source tree's `web/vendor` (`scripts/bootstrap`).
        public var webAssetsDir: String?
        /// Extra environment for the daemon (e.g. the `INBOXD_TEST_CRASH_ON` fault hook).
        public var environment: [String: String] = [:]
        /// A command the daemon is exec'd through (e.g. `setpriv … unshare …` to run it as another user in a user
        /// namespace, as systemd's `User=` + `PrivateUsers=` do); it must exec, so the pid stays the daemon's.
        public var launcher: [String] = []
        public init() {}
    }

    public init(_ options: Options = Options()) throws {
        let dir = try TempDir("inboxd-daemon")
        root = dir.path
        inbox = options.sharing?.inbox ?? root + "/inbox"
        db = options.sharing?.db ?? options.db ?? root + "/inboxd.db"
        output = options.sharing?.output ?? options.output ?? root + "/output"
        port = FreePort.next()
        environment = options.environment
        launcher = options.launcher
        configPath = root + "/inboxd.toml"
        logPath = root + "/inboxd.log"
        try FileManager.default.createDirectory(atPath: inbox + "/incoming", withIntermediateDirectories: true)
        let toml = """
            inbox = "\(inbox)"
            db = "\(db)"
            output = "\(output)"
            listen = "127.0.0.1:\(port)"
            workers = \(options.workers)
            settle_seconds = \(options.settleSeconds)
            orphan_seconds = \(options.orphanSeconds)
            stall_seconds = \(options.stallSeconds)
            job_time_limit_seconds = \(options.jobTimeLimitSeconds)
            recovery_poll_seconds = \(options.recoveryPollSeconds)
            shutdown_grace_seconds = \(options.shutdownGraceSeconds)
            min_free_bytes = \(options.minFreeBytes)
            log_level = "debug"
            web_assets_dir = "\(options.webAssetsDir ?? Self.repositoryRoot + "/web/vendor")"
            \(options.convertPolicy.map { "convert_policy = \"\($0)\"" } ?? "")
            \(options.extraTOML)
            """
        try toml.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// The source tree this test build comes from.
    public static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    public static var binary: String {
        if let b = ProcessInfo.processInfo.environment["INBOXD_BIN"] { return b }
        return FileManager.default.currentDirectoryPath + "/.build/debug/inboxd"
    }

    /// Starts the daemon and waits until `/healthz` answers. `FreePort` only finds a port that was free a moment
    /// ago: if the first start finds it taken by then, the daemon is started again on a new one (up to 3 times).
    /// Later starts keep the port, since URLs the daemon wrote (e.g. `video_url`) name it.
    public func start() throws {
        var tries = lock.withLock({ started }) ? 1 : 3
        while true {
            do { return try startOnce() } catch HarnessError.exited(_, let log)
                where tries > 1 && log.contains("cannot listen on 127.0.0.1:\(port)") && log.contains("already in use") {
                tries -= 1
                let old = "listen = \"127.0.0.1:\(port)\""
                port = FreePort.next()
                let toml = try String(contentsOfFile: configPath, encoding: .utf8)
                try toml.replacingOccurrences(of: old, with: "listen = \"127.0.0.1:\(port)\"")
                    .write(toFile: configPath, atomically: true, encoding: .utf8)
            }
        }
    }

    private func startOnce() throws {
        lock.withLock { started = true }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: launcher.isEmpty ? Self.binary : "/usr/bin/env")
        p.arguments = (launcher.isEmpty ? [] : launcher + [Self.binary]) + ["run", "--config", configPath]
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        if !FileManager.default.fileExists(atPath: logPath) { FileManager.default.createFile(atPath: logPath, contents: nil) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        p.standardOutput = log
        p.standardError = log
        try p.run()
        lock.withLock { process = p }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if !p.isRunning { throw HarnessError.exited(status: p.terminationStatus, log: logText()) }
            if (try? HTTPClient.get(baseURL + "/healthz"))?.status == 200 { return }
            usleep(50_000)
        }
        throw HarnessError.timeout("daemon did not answer /healthz within 30 s\n\(logText())")
    }

    /// SIGTERM (graceful) and wait for exit; returns the exit status.
    @discardableResult
    public func stop(signal: Int32 = SIGTERM, timeout: Double = 60) -> Int32 {
        guard let p = lock.withLock({ process }) else { return 0 }
        if p.isRunning { kill(p.processIdentifier, signal) }
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning, Date() < deadline { usleep(20_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        lock.withLock { process = nil }
        return p.terminationStatus
    }

    public func kill9() { stop(signal: SIGKILL) }

    /// SIGTERM, then waits up to `seconds` for the daemon to exit on its own (SIGKILL after that, reported as
    /// `exitedInTime == false`).
    public func stopGracefully(within seconds: Double) -> (status: Int32, exitedInTime: Bool) {
        guard let p = lock.withLock({ process }) else { return (0, true) }
        if p.isRunning { kill(p.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(seconds)
        while p.isRunning, Date() < deadline { usleep(20_000) }
        let inTime = !p.isRunning
        if !inTime { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        lock.withLock { process = nil }
        return (p.terminationStatus, inTime)
    }

    /// How the daemon ended when it died on its own (a crash, an `abort()`), e.g. "signal 6"; nil while it runs or
    /// after `stop`/`kill9`. Forgets the process, so `start()` may follow.
    public func reapIfDied() -> String? {
        lock.withLock {
            guard let p = process, !p.isRunning else { return nil }
            process = nil
            return p.terminationReason == .uncaughtSignal ? "signal \(p.terminationStatus)" : "exit status \(p.terminationStatus)"
        }
    }

    /// Whether the daemon process has exited on its own (e.g. it crashed); reaps it.
    public var hasExited: Bool {
        lock.withLock {
            guard let p = process else { return false }
            return !p.isRunning
        }
    }

    /// Runs `inboxd run` with this config (plus `arguments`) and waits for it to exit, as a failed start would;
    /// `prefix` runs it through another program (e.g. `setpriv` to drop root). Kills it after `timeout`.
    public func runToExit(_ arguments: [String] = [], prefix: [String] = [], timeout: Double = 15,
                          afterStart: ((Process) -> Void)? = nil) throws -> (status: Int32, output: String, seconds: Double) {
        let p = Process()
        let out = Pipe()
        let command = prefix + [Self.binary, "run", "--config", configPath] + arguments
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = command
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        p.standardOutput = out
        p.standardError = out
        let started = Date()
        try p.run()
        afterStart?(p)
        let deadline = started.addingTimeInterval(timeout)
        while p.isRunning, Date() < deadline { usleep(20_000) }
        if p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw HarnessError.timeout("inboxd did not exit within \(timeout) s:\n\(text)")
        }
        let seconds = Date().timeIntervalSince(started)
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (p.terminationStatus, text, seconds)
    }

    /// Freezes the daemon (SIGSTOP) so the kernel queues events it cannot read yet; `resume` undoes it.
    public func pause() {
        if let p = lock.withLock({ process }), p.isRunning { kill(p.processIdentifier, SIGSTOP) }
    }

    public func resume() {
        if let p = lock.withLock({ process }) { kill(p.processIdentifier, SIGCONT) }
    }

    /// Waits until the log contains `text` (e.g. a line a service writes once it is set up).
    public func waitForLog(_ text: String, timeout: Double = 30) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if logText().contains(text) { return }
            usleep(20_000)
        }
        throw HarnessError.timeout("log never showed \"\(text)\" within \(timeout) s\n\(logText())")
    }

    public var isRunning: Bool { lock.withLock { process?.isRunning ?? false } }

    /// The running daemon's process id.
    public var pid: Int32? { lock.withLock { process?.processIdentifier } }

    public func logText() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The log's size in bytes: a cursor for `logText(from:)`.
    public func logLength() -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: logPath))?[.size] as? NSNumber)?.intValue ?? 0
    }

    /// The log written since `offset` (reads only the new part, so polling a long log stays cheap).
    public func logText(from offset: Int) -> String {
        guard let h = FileHandle(forReadingAtPath: logPath) else { return "" }
        defer { try? h.close() }
        try? h.seek(toOffset: UInt64(offset))
        return String(decoding: (try? h.readToEnd()) ?? Data(), as: UTF8.self)
    }

    /// Removes the temp tree (after `stop`); `INBOXD_TEST_KEEP=1` keeps it (log, db, inbox) for a post-mortem.
    public func cleanUp() {
        stop()
        if ProcessInfo.processInfo.environment["INBOXD_TEST_KEEP"] == "1" {
            print("INBOXD_TEST_KEEP: kept \(root)")
            return
        }
        try? FileManager.default.removeItem(atPath: root)
    }

    // MARK: producer's view

    /// The normal order: media copied in, then the sidecar written (both in place, like `cp`).
    public func drop(media: String?, as name: String, sidecar: [String: Any], subdirectory: String? = nil) throws {
        let dir = subdirectory.map { incoming + "/" + $0 } ?? incoming
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        if let media { try FileManager.default.copyItem(atPath: media, toPath: dir + "/" + name) }
        try writeSidecar(sidecar, to: dir + "/" + name + ".json")
    }

    public func writeSidecar(_ sidecar: [String: Any], to path: String) throws {
        let data = try JSONSerialization.data(withJSONObject: sidecar, options: [.sortedKeys])
        try data.write(to: URL(fileURLWithPath: path))
    }

    // MARK: status API

    public func status(_ id: String) throws -> HTTPClient.Response { try HTTPClient.get("\(baseURL)/api/videos/\(id)/status") }

    /// Polls `/status` until the job reaches one of `statuses`; returns the last JSON.
    public func waitFor(_ id: String, _ statuses: Set<String> = ["ready", "failed"], timeout: Double = 120) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(timeout)
        var last: [String: Any] = [:]
        while Date() < deadline {
            if let j = try? status(id).json {
                last = j
                if let s = j["status"] as? String, statuses.contains(s) { return j }
            }
            usleep(100_000)
        }
        throw HarnessError.timeout("job \(id) did not reach \(statuses) in \(timeout) s; last: \(last)\n\(logText().suffix(4000))")
    }

    /// Runs an admin subcommand against this daemon's config.
    public func cli(_ args: [String]) throws -> Shell.Result {
        try Shell.run(Self.binary, args + ["--config", configPath])
    }

    /// `PRAGMA integrity_check` as an admin runs it: "ok" for a sound db.
    public func integrityCheck() throws -> String { try sql("PRAGMA integrity_check") }

    /// Rows of `videos` via the sqlite3 CLI, as an admin would read them.
    public func sql(_ query: String) throws -> String {
        let r = try Shell.run("sqlite3", ["-cmd", ".timeout 5000", db, query])
        guard r.status == 0 else { throw HarnessError.sql(query: query, error: r.stderr) }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Waits until a row with this title exists and returns its video_id.
    public func videoID(title: String, timeout: Double = 60) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let id = (try? sql("SELECT video_id FROM videos WHERE title = '\(title.replacingOccurrences(of: "'", with: "''"))' LIMIT 1")) ?? ""
            if !id.isEmpty { return id }
            usleep(100_000)
        }
        throw HarnessError.timeout("no row titled '\(title)' after \(timeout) s\n\(logText().suffix(4000))")
    }
}

public enum HarnessError: Error, CustomStringConvertible {
    case exited(status: Int32, log: String)
    case timeout(String)
    case sql(query: String, error: String)

    public var description: String {
        switch self {
        case .sql(let q, let e): "sqlite3 failed on \(q): \(e)"
        case .exited(let s, let log): "inboxd exited with status \(s):\n\(log)"
        case .timeout(let m): m
        }
    }
}
