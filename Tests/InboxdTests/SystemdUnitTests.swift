import Foundation
import TestSupport
import Testing

/// `packaging/systemd/inboxd.service` as the package installs it: a unit systemd accepts, `Type=notify` with a
/// watchdog, and a sandbox `systemd-analyze security` rates at most 2.5.
@Suite struct SystemdUnitTests {
    static let unitPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../packaging/systemd/inboxd.service").standardizedFileURL.path

    static func unit() throws -> String { try String(contentsOfFile: unitPath, encoding: .utf8) }

    @Test func theUnitRunsThePackagedBinaryAsANotifyServiceWithAWatchdog() throws {
        let lines = Set(try Self.unit().split(separator: "\n").map(String.init))
        for directive in ["Type=notify", "NotifyAccess=main", "WatchdogSec=30", "User=inboxd", "Group=inboxd", "StateDirectory=inboxd",
                          "ExecStart=/usr/bin/inboxd run --config /etc/inboxd/inboxd.toml", "ProtectSystem=strict",
                          "ReadWritePaths=/var/lib/inboxd", "NoNewPrivileges=yes", "PrivateTmp=yes", "ProtectHome=yes",
                          "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "SystemCallFilter=@system-service", "CapabilityBoundingSet="] {
            #expect(lines.contains(directive), "missing \(directive)")
        }
    }

    @Test func systemdAnalyzeVerifiesTheUnitAndRatesItsExposureAtMost2Point5() throws {
        let dir = try TempDir("unit")
        defer { dir.remove() }
        // verify checks that ExecStart's binary exists: point it at the one under test.
        let unit = try Self.unit().replacingOccurrences(of: "ExecStart=/usr/bin/inboxd", with: "ExecStart=\(DaemonHarness.binary)")
        let path = dir.path + "/inboxd.service"
        try unit.write(toFile: path, atomically: true, encoding: .utf8)
        let verify = try Shell.run("systemd-analyze", ["verify", path])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        #expect(verify.stderr.isEmpty, "warnings: \(verify.stderr)")

        let security = try Shell.run("systemd-analyze", ["security", "--offline=yes", "--no-pager", path])
        #expect(security.status == 0, "\(security.stderr)")
        let line = try #require(security.stdout.split(separator: "\n").first { $0.contains("Overall exposure level") }, "\(security.stdout)")
        print("systemd-analyze security: \(line)")
        let score = try #require(line.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) }, "\(line)")
        #expect(score <= 2.5, "\(line)")
    }

    /// `MemoryDenyWriteExecute=yes` in the unit holds only if nothing the daemon loads writes code at run time:
    /// libx264, libavcodec, curl, SQLite and the Swift runtime all run under systemd's filter for it.
    @Test func aTranscodeAndTheDaemonRunUnderMemoryDenyWriteExecutesFilter() throws {
        #expect(try Self.unit().split(separator: "\n").contains("MemoryDenyWriteExecute=yes"))
        let dir = try TempDir("mdwe")
        defer { dir.remove() }
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../Support/fixtures/mdwe.c").standardizedFileURL.path
        let mdwe = dir.path + "/mdwe"
        let cc = try Shell.run("cc", ["-O2", "-o", mdwe, source])
        try #require(cc.status == 0, "\(cc.stderr)")
        let refused = try Shell.run(mdwe, ["python3", "-c", "import mmap; mmap.mmap(-1, 4096, prot=mmap.PROT_READ|mmap.PROT_WRITE|mmap.PROT_EXEC)"])
        try #require(refused.status != 0 && refused.stderr.contains("Operation not permitted"), "the filter is not in force: \(refused)")

        let media = try MediaFactory()
        let src = try media.vp9Opus(seconds: 3)  // VP9 + Opus: decoded, then encoded by libx264 and AAC
        let convert = try Shell.run(mdwe, [DaemonHarness.binary, "convert", src, dir.path + "/hls"])
        #expect(convert.status == 0, "\(convert.stderr)")
        #expect(convert.stdout.contains("transcode:"), "\(convert.stdout)")
        #expect(FileManager.default.fileExists(atPath: dir.path + "/hls/thumbnail.jpg"))

        let d = try DaemonHarness()
        defer { d.cleanUp() }
        let run = try d.runToExit(prefix: [mdwe], timeout: 30) { p in
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline, (try? HTTPClient.get(d.baseURL + "/healthz"))?.status != 200 { usleep(50_000) }
            kill(p.processIdentifier, SIGTERM)
        }
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("watching inbox") && run.output.contains("inboxd stopped"), "\(run.output)")
    }
}
