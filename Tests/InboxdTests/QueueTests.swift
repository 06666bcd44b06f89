import Foundation
import TestSupport
import Testing

/// Queue management with a real daemon: fair share between users, priorities, per-user limits (README, "Queue
/// management"). Media are 1 s clips that are remuxed, so a job takes well under a second.
@Suite(.serialized) struct QueueTests {
    /// Order in which jobs started (their first attempt's audit entry), as `(username, title)`.
    private func startOrder(_ d: DaemonHarness) throws -> [(user: String, title: String)] {
        try d.sql("""
            SELECT COALESCE(v.username, ''), v.title FROM events e JOIN videos v USING (video_id)
            WHERE e.message = 'attempt 1 started' ORDER BY e.id
            """).split(separator: "\n").map { line in
            let parts = line.split(separator: "|", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            return (parts.first ?? "", parts.count > 1 ? parts[1] : "")
        }
    }

    /// User A drops 30 files, user B one afterwards: B's job starts before A's fourth, although nobody has a
    /// per-user cap (`[limits] max_running_jobs = 0`): at equal priority, owners take turns for free workers.
    @Test func aBulkDropOfOneUserDoesNotStarveAnother() throws {
        let media = try MediaFactory()
        let clip = try media.h264AAC(seconds: 1, width: 160, height: 120, gopSeconds: 1)
        var o = DaemonHarness.Options()
        o.workers = 2
        o.extraTOML = "[limits]\nmax_running_jobs = 0\n"
        let d = try DaemonHarness(o)
        defer { d.cleanUp() }
        for user in ["alice", "bob"] { try FileManager.default.createDirectory(atPath: d.incoming + "/" + user, withIntermediateDirectories: true) }
        try d.start()
        for user in ["alice", "bob"] { #expect(try d.cli(["user", "add", user, "--upload"]).status == 0) }

        // Frozen while the files land, so the daemon sees A's 30 drops and then B's, all at once.
        d.pause()
        for i in 0..<30 {
            try d.drop(media: clip, as: String(format: "a%02d.mp4", i), sidecar: ["title": String(format: "a%02d", i)], subdirectory: "alice")
        }
        try d.drop(media: clip, as: "b.mp4", sidecar: ["title": "b"], subdirectory: "bob")
        d.resume()

        _ = try eventually(timeout: 180, "all 31 jobs ready") { () -> Bool? in
            try d.sql("SELECT COUNT(*) FROM videos WHERE status = 'ready'") == "31" ? true : nil
        }
        #expect(try d.sql("SELECT COUNT(*) FROM videos WHERE status != 'ready'") == "0")
        let order = try startOrder(d)
        let bob = try #require(order.firstIndex { $0.user == "bob" })
        let aliceStarts = order.indices.filter { order[$0].user == "alice" }
        #expect(aliceStarts.count == 30)
        #expect(bob < aliceStarts[3], "bob's job started as #\(bob + 1), after alice's fourth: \(order.map(\.title))")
    }

    /// The scheduler takes the highest priority first; a user's `priority` is capped at their `max_priority`
    /// (`inboxd user modify --max-priority`), and a user capped at one running job never runs two at once.
    @Test func priorityWinsAndIsCappedByTheUsersMaximum() throws {
        let media = try MediaFactory()
        let long = try media.h264High10(seconds: 6, name: "long.mp4")  // 10-bit: transcoded, so it runs a while
        let clip = try media.h264AAC(seconds: 1, width: 160, height: 120, gopSeconds: 1)
        var o = DaemonHarness.Options()
        o.workers = 1
        let d = try DaemonHarness(o)
        defer { d.cleanUp() }
        for user in ["carol", "dan"] { try FileManager.default.createDirectory(atPath: d.incoming + "/" + user, withIntermediateDirectories: true) }
        try d.start()
        #expect(try d.cli(["user", "add", "carol", "--upload"]).status == 0)
        #expect(try d.cli(["user", "add", "dan", "--upload"]).status == 0)
        let modified = try d.cli(["user", "modify", "carol", "--max-priority", "5"])
        #expect(modified.status == 0 && modified.stdout.contains("max_priority=5"), "\(modified.stdout)\(modified.stderr)")
        let bad = try d.cli(["user", "modify", "carol", "--max-running-jobs", "lots"])
        #expect(bad.status != 0 && bad.stderr.contains("max-running-jobs"), "\(bad.stderr)")
        #expect(try d.cli(["user", "modify", "nobody", "--max-priority", "1"]).stderr.contains("no active user 'nobody'"))

        try d.drop(media: long, as: "first.mp4", sidecar: ["title": "first"])  // takes the only worker
        let first = try d.videoID(title: "first")
        try waitForPhase(d, first, "converting")
        d.pause()
        try d.drop(media: clip, as: "low.mp4", sidecar: ["title": "low", "priority": 1], subdirectory: "dan")  // dan may not: 0
        try d.drop(media: clip, as: "high.mp4", sidecar: ["title": "high", "priority": 100], subdirectory: "carol")  // capped to 5
        try d.drop(media: clip, as: "plain.mp4", sidecar: ["title": "plain"])
        try d.drop(media: clip, as: "ops.mp4", sidecar: ["title": "ops", "priority": 3])  // no owner: as asked
        d.resume()
        _ = try eventually(timeout: 120, "5 jobs ready") { () -> Bool? in
            try d.sql("SELECT COUNT(*) FROM videos WHERE status = 'ready'") == "5" ? true : nil
        }
        #expect(try d.sql("SELECT title || '=' || priority FROM videos ORDER BY title") == "first=0\nhigh=5\nlow=0\nops=3\nplain=0")
        let titles = try startOrder(d).map(\.title)
        #expect(titles.first == "first")
        #expect(Array(titles.dropFirst().prefix(2)) == ["high", "ops"], "\(titles)")
        #expect(d.logText().contains("priority capped at the user's max_priority"))

        // A bad priority fails the drop with an error naming the field (the row is titled after the media then).
        try d.drop(media: clip, as: "bad.mp4", sidecar: ["title": "bad", "priority": 1.5])
        let id = try d.videoID(title: "bad.mp4")
        let failed = try d.waitFor(id)
        #expect(failed["failure_reason"] as? String == "sidecar")
        #expect((failed["error"] as? String ?? "").contains("'priority' must be an integer"), "\(failed)")
    }
}

/// A TCP listener that accepts connections into its backlog and never answers: a URL ingest from it hangs in
/// `downloading` until the listener closes (then the download fails with a reset).
final class SilentListener {
    let port: Int
    private var fd: Int32

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 16) == 0 else { throw HarnessError.timeout("cannot listen on 127.0.0.1") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        port = Int(UInt16(bigEndian: addr.sin_port))
        self.fd = fd
    }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    deinit { close() }
}
