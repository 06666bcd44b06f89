import Foundation
import TestSupport
import Testing

/// Every failed start prints one sentence naming the cause and exits non-zero within 5 s, and a stop asked for
/// at any moment ends within `shutdown_grace_seconds` + 5 s: a systemd unit never hangs on inboxd.
@Suite(.serialized) struct StartStopTests {
    private func expectFailedStart(_ d: DaemonHarness, prefix: [String] = [], saying expected: [String],
                                   _ comment: Comment) throws {
        let r = try d.runToExit(prefix: prefix, timeout: 15)
        #expect(r.status != 0, "\(comment): exit status \(r.status)\n\(r.output)")
        #expect(r.seconds < 5, "\(comment): took \(r.seconds) s\n\(r.output)")
        let last = r.output.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.hasPrefix("inboxd: "), "\(comment): last line \(last)")
        for text in expected { #expect(last.contains(text), "\(comment): '\(text)' missing from: \(last)") }
        #expect(!r.output.contains("NSCocoaErrorDomain") && !r.output.contains("UserInfo="), "\(comment): raw error text\n\(r.output)")
    }

    /// Every directory from `/` to the daemon's tree searchable, and its config readable, for `nobody`.
    private static func openToNobody(_ d: DaemonHarness) {
        var dir = d.root
        while dir != "/" && !dir.isEmpty {
            chmod(dir, 0o755)
            dir = (dir as NSString).deletingLastPathComponent
        }
        chmod(d.configPath, 0o644)
    }

    @Test func aPortInUseIsNamedAndTheDaemonExits() throws {
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        let holder = try RawConnection.listen(on: d.port)
        defer { close(holder) }
        try expectFailedStart(d, saying: ["cannot listen on 127.0.0.1:\(d.port)", "already in use"], "port in use")
    }

    @Test func aMissingParentDirectoryIsAnErrorNotANewTree() throws {
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        let typo = d.root + "/no-such-dir/inbox"
        try (try String(contentsOfFile: d.configPath, encoding: .utf8))
            .replacingOccurrences(of: "inbox = \"\(d.inbox)\"", with: "inbox = \"\(typo)\"")
            .write(toFile: d.configPath, atomically: true, encoding: .utf8)
        try expectFailedStart(d, saying: ["inbox \(typo)", "parent directory \(d.root)/no-such-dir does not exist"], "inbox typo")
        #expect(!FileManager.default.fileExists(atPath: d.root + "/no-such-dir"), "nothing was created")

        let dbTypo = d.root + "/nope/inboxd.db"
        try (try String(contentsOfFile: d.configPath, encoding: .utf8))
            .replacingOccurrences(of: "inbox = \"\(typo)\"", with: "inbox = \"\(d.inbox)\"")
            .replacingOccurrences(of: "db = \"\(d.db)\"", with: "db = \"\(dbTypo)\"")
            .write(toFile: d.configPath, atomically: true, encoding: .utf8)
        try expectFailedStart(d, saying: ["db \(dbTypo)", "does not exist"], "db typo")
    }

    @Test func aFileThatIsNotADatabaseAndANewerSchemaAreRefused() throws {
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        try Data("this is not sqlite, just text long enough to be read as a header page".utf8).write(to: URL(fileURLWithPath: d.db))
        try expectFailedStart(d, saying: ["db \(d.db) is not an SQLite database"], "not a db")

        try FileManager.default.removeItem(atPath: d.db)
        _ = try Shell.run("sqlite3", [d.db, "PRAGMA user_version = 99; CREATE TABLE t(x);"])
        try expectFailedStart(d, saying: ["db \(d.db) has schema version 99", "run a newer inboxd"], "newer schema")
    }

    @Test func anUnknownConfigKeyIsNamed() throws {
        var o = DaemonHarness.Options()
        o.extraTOML = "[retry]\nbase_secs = 3\n"
        let d = try DaemonHarness(o)
        defer { d.cleanUp() }
        try expectFailedStart(d, saying: ["unknown config key 'retry.base_secs'"], "unknown key")
    }

    /// The daemon's user cannot write `incoming/`: a start-up error, not a daemon that silently claims nothing.
    @Test func anInboxTheUserCannotWriteIsAStartError() throws {
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        // Everything readable for `nobody`, but owned by root with mode 755: not writable for it.
        Self.openToNobody(d)
        for sub in ["", "/incoming"] { chmod(d.inbox + sub, 0o755) }
        let binaryVisible = access(DaemonHarness.binary, X_OK) == 0
        try #require(binaryVisible)
        let asNobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        let probe = try Shell.run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", DaemonHarness.binary, "--version"])
        try #require(probe.status == 0, "nobody cannot run \(DaemonHarness.binary) here: \(probe.stderr)")
        try FileManager.default.createDirectory(atPath: d.inbox + "/processing", withIntermediateDirectories: true)
        try expectFailedStart(d, prefix: asNobody, saying: ["inbox directory \(d.inbox)/incoming is not writable", "uid 65534"],
                              "unwritable inbox")
    }

    /// Job lock files left by another user (a daemon once started as root on the service's inbox): the start fails
    /// and names the file, instead of a daemon that claims nothing because it cannot lock its jobs.
    @Test func lockFilesOfAnotherUserAreAStartError() throws {
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        Self.openToNobody(d)
        for sub in ["", "/incoming", "/processing", "/failed", "/work", "/uploads"] {
            try FileManager.default.createDirectory(atPath: d.inbox + sub, withIntermediateDirectories: true)
            chmod(d.inbox + sub, 0o777)
        }
        // What a root daemon leaves: `.locks/` and its files owned by root, mode 755 and 644.
        let locks = d.inbox + "/processing/.locks"
        try FileManager.default.createDirectory(atPath: locks, withIntermediateDirectories: true)
        chmod(locks, 0o755)
        FileManager.default.createFile(atPath: locks + "/00", contents: nil, attributes: [.posixPermissions: 0o644])
        let asNobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        let probe = try Shell.run("setpriv", asNobody.dropFirst().map { $0 } + [DaemonHarness.binary, "--version"])
        try #require(probe.status == 0, "nobody cannot run \(DaemonHarness.binary) here: \(probe.stderr)")
        try expectFailedStart(d, prefix: asNobody, saying: ["cannot open the job lock file \(locks)/00", "uid 65534",
                                                             "Permission denied"], "root-owned lock file")
    }

    /// SIGTERM at any moment of the start (opening the db, starting services, binding) ends the process quickly.
    @Test(arguments: [0.0, 0.05, 0.15, 0.3, 0.6])
    func sigtermDuringStartEndsTheProcessQuickly(after delay: Double) throws {
        var o = DaemonHarness.Options()
        o.shutdownGraceSeconds = 2
        let d = try DaemonHarness(o)
        defer { d.cleanUp() }
        let r = try d.runToExit(timeout: 20) { p in
            usleep(useconds_t(delay * 1_000_000))
            kill(p.processIdentifier, SIGTERM)
        }
        #expect(r.seconds < 2 + 5, "stopped after \(r.seconds) s\n\(r.output)")
        #expect(!r.output.contains("Fatal error"), "\(r.output)")
    }

    /// A failing start (port taken) that also receives SIGTERM still ends at once.
    @Test func sigtermDuringAFailedStartEndsQuickly() throws {
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        let holder = try RawConnection.listen(on: d.port)
        defer { close(holder) }
        let r = try d.runToExit(timeout: 20) { p in
            usleep(100_000)
            kill(p.processIdentifier, SIGTERM)
        }
        #expect(r.seconds < 5, "\(r.output)")
        #expect(r.status != 0)
    }

    /// The inotify instance limit reached: named with its sysctl. The limit is per user, so a helper running as a
    /// user id nothing else here runs as takes every instance that user may have, and the daemon is started as that
    /// user. (Lowering the system-wide limit instead, even for a second, made daemons that the other test process
    /// started meanwhile fail the same way.)
    @Test func theInotifyInstanceLimitIsNamed() throws {
        let limitPath = "/proc/sys/fs/inotify/max_user_instances"
        let limit = try String(contentsOfFile: limitPath, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let asLoneUser = ["setpriv", "--reuid=64999", "--regid=64999", "--clear-groups"]
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        Self.openToNobody(d)
        for sub in ["", "/incoming"] { chown(d.inbox + sub, 64999, 64999) }
        chown(d.root, 64999, 64999)
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        holder.arguments = asLoneUser + ["/usr/bin/python3", "-c", """
            import ctypes, resource, sys
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            libc = ctypes.CDLL(None, use_errno=True)
            held = []
            while len(held) < 100000 and (fd := libc.inotify_init()) >= 0:
                held.append(fd)
            print(f"{len(held)} {ctypes.get_errno()}", flush=True)
            sys.stdin.read()
            """]
        let stdin = Pipe(), stdout = Pipe()
        holder.standardInput = stdin
        holder.standardOutput = stdout
        try holder.run()
        defer {
            try? stdin.fileHandleForWriting.close()
            holder.waitUntilExit()
        }
        var output = Data()
        while !output.contains(UInt8(ascii: "\n")) {
            let chunk = stdout.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            output += chunk
        }
        let line = String(decoding: output, as: UTF8.self).split(separator: " ")
        try #require(line.count == 2 && String(line[0]) == limit && Int32(line[1].trimmingCharacters(in: .whitespacesAndNewlines)) == EMFILE,
                     "the helper should hold all \(limit) instances and then get EMFILE: \(line)")

        let r = try d.runToExit(prefix: asLoneUser, timeout: 15)
        #expect(r.status != 0, "\(r.output)")
        #expect(r.seconds < 5, "\(r.output)")
        #expect(r.output.contains("inotify instance limit reached (fs.inotify.max_user_instances = \(limit))"), "\(r.output)")
    }
}
