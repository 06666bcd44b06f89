import Foundation
import TestSupport
import Testing

/// A queued job costs no open descriptor (its ownership is a byte-range lock in one of a few shared lock files), so
/// a burst of more drops than the open-file limit is claimed whole, and a restart takes the abandoned jobs back whole.
@Suite(.serialized) struct QueuedJobDescriptorTests {
    @Test func moreDropsThanTheOpenFileLimitAreAllClaimedAndAllTakenBackAfterACrash() throws {
        let limit = 512, n = 1000
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 1)
        var options = DaemonHarness.Options()
        options.workers = 1
        options.settleSeconds = 0.2
        options.launcher = ["prlimit", "--nofile=\(limit):\(limit)"]
        // The one worker sits on its first job: every other claimed job stays queued, holding its lock.
        options.environment["INBOXD_TEST_CONVERT_DELAY_MS"] = "600000"
        options.extraTOML = "[http]\nmax_connections = 64"
        let d = try DaemonHarness(options)
        defer { d.cleanUp() }
        let staging = d.inbox + "/.staging"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        for i in 0..<n {
            try FileManager.default.copyItem(atPath: src, toPath: "\(staging)/q\(i).mp4")
            try d.writeSidecar(["title": "queued \(i)"], to: "\(staging)/q\(i).mp4.json")
        }
        try d.start()
        let pid = try #require(d.pid)
        let limits = try String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)
        #expect(limits.split(separator: "\n").contains { $0.hasPrefix("Max open files") && $0.contains(" \(limit) ") },
                "the daemon runs under the lowered limit: \(limits)")
        for i in 0..<n {
            #expect(rename("\(staging)/q\(i).mp4", "\(d.incoming)/q\(i).mp4") == 0)
            #expect(rename("\(staging)/q\(i).mp4.json", "\(d.incoming)/q\(i).mp4.json") == 0)
        }
        _ = try eventually(timeout: 60, "every drop claimed") { () -> Bool? in
            (try? d.sql("SELECT count(*) FROM videos")) == "\(n)" && Check.entries(d.incoming).isEmpty ? true : nil
        }
        #expect(try d.sql("SELECT count(DISTINCT title) FROM videos") == "\(n)", "each drop exactly once")
        #expect(try d.sql("SELECT count(*) FROM videos WHERE status = 'processing'") == "\(n)", "all queued or running, none failed")
        #expect(Check.entries(d.inbox + "/processing").count == n, "each claimed job has its directory")
        let descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count
        #expect(descriptors < limit, "\(descriptors) descriptors open with \(n) jobs claimed")
        #expect(!d.logText().contains("Too many open files"))
        _ = try HTTPClient.get(d.baseURL + "/healthz")

        // A crash drops every lock with the process; the next start (same limit) takes each job back, once.
        d.kill9()
        let offset = d.logLength()
        try d.start()
        _ = try eventually(timeout: 60, "every abandoned job resumed") { () -> Bool? in
            d.logText(from: offset).components(separatedBy: "resuming abandoned job").count - 1 >= n ? true : nil
        }
        #expect(d.logText(from: offset).components(separatedBy: "resuming abandoned job").count - 1 == n)
        #expect(try d.sql("SELECT count(*) FROM videos WHERE status = 'processing'") == "\(n)")
        let after = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(try #require(d.pid))/fd").count
        #expect(after < limit, "\(after) descriptors open with \(n) jobs taken back")
    }
}
