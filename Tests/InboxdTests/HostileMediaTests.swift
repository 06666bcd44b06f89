import Foundation
import TestSupport
import Testing

/// Hundreds of mangled media files — flipped bytes, truncations, headers spliced onto other files — dropped at
/// once: each ends `ready` or `failed` with a reason, `/healthz` answers throughout, and nothing stays in
/// `processing`. Should a libav crash take the daemon down, it is restarted, and the poison-drop rule ends that
/// drop (`crashed`) after `max_attempts`.
@Suite(.serialized) struct HostileMediaTests {
    @Test func aCorpusOfMutatedMediaEndsEachDropWithoutKillingTheDaemon() throws {
        var rng = FaultRun.generator(for: "hostile media")
        let count = FaultRun.scale(200, soak: 1000)
        let maxAttempts = 3
        var report = FaultReport(scenario: "hostile media")
        let media = try MediaFactory()
        let mp4 = try media.h264AAC(seconds: 1, width: 160, height: 120, gopSeconds: 0.5, name: "seed.mp4")
        let sources = [
            mp4,
            try media.remux(mp4, name: "seed-faststart.mp4", arguments: ["-movflags", "+faststart"]),
            try media.remux(mp4, name: "seed.ts"),
            try media.vp9Opus(seconds: 1, width: 160, height: 120, name: "seed.webm"),
            try media.remux(try media.vp9Opus(seconds: 1, width: 160, height: 120, name: "seed2.webm"), name: "seed.mkv"),
        ]
        let corpus = try MediaMutator(sources: sources).corpus(count: count, into: media.path("corpus"), using: &rng)

        var options = DaemonHarness.Options()
        options.workers = 3
        options.settleSeconds = 0.2
        options.stallSeconds = 20
        options.jobTimeLimitSeconds = 60
        options.extraTOML = retryTOML(baseSeconds: 0.2, maxSeconds: 1, maxAttempts: maxAttempts)
        let d = try DaemonHarness(options)
        defer { d.cleanUp() }
        try d.start()
        let health = HealthWatch(d)
        var crashes: [String] = []
        for sample in corpus {
            let name = (sample.path as NSString).lastPathComponent
            try d.drop(media: sample.path, as: name, sidecar: ["title": name])
        }

        let deadline = Date().addingTimeInterval(FaultRun.scale(300, soak: 1500))
        var finished = 0
        while Date() < deadline {
            if let how = d.reapIfDied() {
                crashes.append(how)
                print("[fault-injection] hostile media: inboxd died (\(how)); restarting\n\(d.logText().suffix(1500))")
                // A restart may die at once: the resumed culprit can crash before /healthz answers.
                do { try health.restarting { try d.start() } } catch HarnessError.exited { continue }
                report.runs += 1
                continue
            }
            finished = Int((try? d.sql("SELECT count(*) FROM videos WHERE status IN ('ready','failed')")) ?? "") ?? finished
            if finished >= count { break }
            Thread.sleep(forTimeInterval: 0.25)
        }
        let watched = health.stop()
        report.crashes = crashes.count
        report.lost = max(0, count - (Int(try d.sql("SELECT count(*) FROM videos")) ?? 0))

        #expect(finished == count, "only \(finished) of \(count) drops ended before the deadline")
        #expect(try d.sql("SELECT count(*) FROM videos") == "\(count)", "one row per drop")
        #expect(try d.sql("SELECT count(*) FROM videos WHERE status='failed' AND coalesce(failure_reason, '') = ''") == "0",
                "every failed drop says why")
        #expect(try d.sql("SELECT count(*) FROM videos WHERE status='processing'") == "0")
        #expect(watched.polls > 0)
        #expect(watched.failures.isEmpty, "/healthz did not answer \(watched.failures.count) of \(watched.polls) polls: \(watched.failures.prefix(5))")
        if !crashes.isEmpty {
            // The daemon may die on hostile input only as the poison-drop rule allows: each culprit ends `crashed`.
            let crashed = Int(try d.sql("SELECT count(*) FROM videos WHERE failure_reason='crashed'")) ?? 0
            #expect(crashed >= 1, "the daemon died \(crashes.count) times (\(crashes)) but no drop ended `crashed`")
            #expect(crashes.count <= crashed * maxAttempts, "more crashes than the poison-drop rule allows: \(crashes)")
        }
        #expect(d.isRunning)
        #expect(try d.integrityCheck() == "ok")
        Check.inboxIsClean(d)
        _ = try eventually(timeout: 90, "processing/ to empty") { Check.entries(d.inbox + "/processing").isEmpty ? true : nil }
        let incoming = (try? FileManager.default.subpathsOfDirectory(atPath: d.incoming)) ?? []
        #expect(incoming.isEmpty, "incoming/ keeps \(incoming.prefix(10))")

        let outcomes = try d.sql("SELECT status || ':' || coalesce(failure_reason, '-') || ' ' || count(*) FROM videos GROUP BY status, failure_reason")
        report.jobs = count
        report.notes = "outcomes: " + outcomes.replacingOccurrences(of: "\n", with: ", ") + "; /healthz polls \(watched.polls)"
        report.print()
    }
}
