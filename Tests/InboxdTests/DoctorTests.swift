import Foundation
import TestSupport
import Testing

/// `inboxd doctor` is what an operator runs first: every broken piece of a setup is one FAIL line naming the fix,
/// and a healthy setup (stopped or running) passes.
@Suite(.serialized) struct DoctorTests {
    static func doctor(_ d: DaemonHarness, prefix: [String] = []) throws -> (status: Int32, lines: [String]) {
        let r = try Shell.run("/usr/bin/env", prefix + [DaemonHarness.binary, "doctor", "--config", d.configPath])
        return (r.status, (r.stdout + r.stderr).split(separator: "\n").map(String.init))
    }

    static func failures(_ lines: [String]) -> [String] { lines.filter { $0.hasPrefix("FAIL ") } }

    static func setConfig(_ d: DaemonHarness, _ key: String, _ value: String) throws {
        let text = try String(contentsOfFile: d.configPath, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasPrefix("\(key) =") ? "\(key) = \(value)" : String($0) }
        try lines.joined(separator: "\n").write(toFile: d.configPath, atomically: true, encoding: .utf8)
    }

    @Test func aHealthySetupPassesStoppedAndRunning() throws {
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        let stopped = try Self.doctor(d)
        #expect(stopped.status == 0, "\(stopped.lines.joined(separator: "\n"))")
        #expect(Self.failures(stopped.lines).isEmpty)
        for expected in ["ok   config parses", "ok   inbox directory \(d.inbox) (", "ok   db \(d.db) (not created yet",
                         "ok   inotify limits", "ok   encoder H.264 (libx264)", "ok   encoder AAC", "ok   listen 127.0.0.1:\(d.port) (free)",
                         "ok   watch page player files in \(DaemonHarness.repositoryRoot)/web/vendor/videojs (Video.js"] {
            #expect(stopped.lines.contains { $0.hasPrefix(expected) }, "no line \(expected): \(stopped.lines)")
        }
        try d.start()
        let running = try Self.doctor(d)
        #expect(running.status == 0, "\(running.lines.joined(separator: "\n"))")
        #expect(running.lines.contains("ok   listen 127.0.0.1:\(d.port) (served by a running inboxd, /healthz ok)"), "\(running.lines)")
        #expect(running.lines.contains { $0.hasPrefix("ok   db \(d.db) (schema ") && $0.hasSuffix("integrity ok)") }, "\(running.lines)")
    }

    /// The page still answers without them, but can only say it cannot play (see WatchPageTests).
    @Test func missingWatchPagePlayerFilesFailNamingTheFix() throws {
        var options = DaemonHarness.Options()
        options.webAssetsDir = "/nonexistent/inboxd-web"
        let d = try DaemonHarness(options)
        defer { d.cleanUp() }
        let r = try Self.doctor(d)
        #expect(r.status == 1)
        #expect(Self.failures(r.lines) == ["FAIL watch page player files in /nonexistent/inboxd-web/videojs: missing video.min.js, video-js.min.css; "
            + "run scripts/bootstrap in the source tree (it unpacks PyPI js-videojs 7.5.5 into web/vendor), reinstall the inboxd package, "
            + "or point web_assets_dir at a directory holding videojs/"], "\(r.lines)")
        try d.start()
        #expect(d.logText().contains("watch page player files missing"), "the daemon warns at start")
    }

    @Test func aConfigThatDoesNotParseIsTheOnlyLine() throws {
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        try Self.setConfig(d, "workers", "0")
        let r = try Self.doctor(d)
        #expect(r.status == 1)
        #expect(r.lines == ["FAIL config: config key 'workers': expected an integer ≥ 1; fix the config file (README, \"Configuration\")"], "\(r.lines)")
    }

    @Test func aMissingInboxWithoutItsParentIsAFailureNamingIt() throws {
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        try Self.setConfig(d, "inbox", "\"\(d.root)/typo/inbox\"")
        let r = try Self.doctor(d)
        #expect(r.status == 1)
        let fail = Self.failures(r.lines)
        #expect(fail.first == "FAIL inbox directory \(d.root)/typo/inbox: No such file or directory; create it (mkdir -p \(d.root)/typo/inbox) owned by the service user, or fix `inbox` in the config", "\(fail)")
    }

    @Test func aDirectoryTheServiceUserCannotWriteFailsWithOwnerAndMode() throws {
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        var dir = d.root
        while dir != "/" && !dir.isEmpty {
            chmod(dir, 0o755)
            dir = (dir as NSString).deletingLastPathComponent
        }
        chmod(d.configPath, 0o644)
        let asNobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        let probe = try Shell.run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", DaemonHarness.binary, "--version"])
        try #require(probe.status == 0, "nobody cannot run \(DaemonHarness.binary) here: \(probe.stderr)")
        let r = try Self.doctor(d, prefix: asNobody)
        #expect(r.status == 1)
        #expect(r.lines.contains("FAIL inbox directory \(d.incoming) (root:root 755): not writable by nobody; chown nobody \(d.incoming) (or chmod u+rwx), or run doctor as the user the daemon runs as"), "\(r.lines)")
        #expect(!r.lines.contains { $0.hasPrefix("FAIL config") })
    }

    @Test func tooLittleFreeSpaceFailsAgainstMinFreeBytes() throws {
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        try Self.setConfig(d, "min_free_bytes", String(Int64(1) << 60))
        let r = try Self.doctor(d)
        #expect(r.status == 1)
        let fail = Self.failures(r.lines)
        #expect(fail.count == 1 && fail[0].hasPrefix("FAIL free space on ") && fail[0].contains("below min_free_bytes"), "\(r.lines)")
    }

    @Test func aFileThatIsNotADbAndADbFromANewerInboxdFail() throws {
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        try Data(repeating: 0x42, count: 8192).write(to: URL(fileURLWithPath: d.db))
        let garbage = try Self.doctor(d)
        #expect(garbage.status == 1)
        #expect(Self.failures(garbage.lines) == ["FAIL db \(d.db): not a SQLite database; move the file aside (inboxd creates a new db) or fix `db` in the config"],
                "\(garbage.lines)")
        try FileManager.default.removeItem(atPath: d.db)
        try d.start()
        d.stop()
        _ = try d.sql("PRAGMA user_version = 99")
        let newer = try Self.doctor(d)
        #expect(newer.status == 1)
        #expect(Self.failures(newer.lines).first?.hasPrefix("FAIL db \(d.db): schema version 99 is newer than this inboxd knows") == true,
                "\(newer.lines)")
    }

    @Test func aPortHeldByAnotherProgramFails() throws {
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        let holder = try RawConnection.listen(on: d.port)
        defer { close(holder) }
        let r = try Self.doctor(d)
        #expect(r.status == 1)
        #expect(Self.failures(r.lines) == ["FAIL listen 127.0.0.1:\(d.port): in use by another program; stop that program (ss -ltnp 'sport = :\(d.port)') or change `listen`"],
                "\(r.lines)")
    }

    @Test func s3IsCheckedWithASignedRequestAndAWrongSecretFails() throws {
        let s3 = try SeaweedFS()
        defer { s3.stop() }
        func toml(secret: String, bucket: String) -> String {
            """
            [s3]
            endpoint = "\(s3.endpoint)"
            region = "\(s3.region)"
            bucket = "\(bucket)"
            access_key_id = "\(s3.accessKey)"
            secret_access_key = "\(secret)"
            """
        }
        for (secret, bucket, expected) in [(s3.secretKey, s3.bucket, "ok   s3 bucket \(s3.bucket) at \(s3.endpoint) (signed ListObjectsV2 ok)"),
                                           ("wrong-\(s3.secretKey)", s3.bucket, "SignatureDoesNotMatch"),
                                           (s3.secretKey, "no-such-bucket-here", "NoSuchBucket")] {
            var o = DaemonHarness.Options()
            o.extraTOML = toml(secret: secret, bucket: bucket)
            let d = try DaemonHarness(o)
            defer { d.cleanUp() }
            let r = try Self.doctor(d)
            let line = r.lines.first { $0.contains("s3 bucket") } ?? "no s3 line in \(r.lines)"
            #expect(line.contains(expected), "\(line)")
            #expect(r.status == (expected.hasPrefix("ok") ? 0 : 1), "\(r.lines)")
            if !expected.hasPrefix("ok") { #expect(line.hasPrefix("FAIL s3 bucket \(bucket)")) }
        }
    }
}
