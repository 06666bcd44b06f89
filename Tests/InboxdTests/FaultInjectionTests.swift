import Foundation
import TestSupport
import Testing

/// The operator's worst day: the daemon is killed at any instant or stopped under load, and still every job ends
/// `ready` exactly once. Seeded (`INBOXD_FAULT_SEED`); `make soak` runs longer variants.
@Suite(.serialized) struct FaultInjectionTests {
    /// Where a kill lands: while a drop is being claimed, while converting, while uploading, or at the db commit
    /// that makes a job ready (just before or just after it).
    enum KillPoint: String, CaseIterable { case claim, converting, uploading, commit }

    private struct Drop {
        let title: String
        let name: String
        let path: String
    }

    @Test func killDashNineAtRandomMomentsLosesNothingAndDuplicatesNothing() throws {
        var rng = FaultRun.generator(for: "kill -9 loop")
        let killCount = FaultRun.scale(20, soak: 80)
        let dropCount = FaultRun.scale(12, soak: 48)
        var report = FaultReport(scenario: "kill -9 loop")
        let s3 = try SeaweedFS(bucket: "kill-loop")
        defer { s3.stop() }
        // A slow S3 (one object at a time, 0.2 s each): an upload lasts long enough to be killed in, and a job
        // seldom finishes unnoticed between two kills, so work stays in flight for every kill point.
        let proxy = try FaultProxy(upstream: s3.endpoint)
        defer { proxy.stop() }
        proxy.setLatency(0.2)
        let media = try MediaFactory()
        var drops: [Drop] = []
        for i in 0..<dropCount {
            let transcode = i % 2 == 1
            let seconds = Double(Int.random(in: transcode ? 4...8 : 2...8, using: &rng))
            let name = transcode ? "k\(i).webm" : "k\(i).mp4"
            // Transcodes take a second or two, so a kill often finds one converting; remuxes reach the upload fast.
            let path = transcode
                ? try media.vp9Opus(seconds: seconds, width: 640, height: 480, name: name)
                : try media.h264AAC(seconds: seconds, width: 320, height: 240, gopSeconds: 1, name: name)
            drops.append(Drop(title: "kill-loop \(i) \(transcode ? "transcode" : "remux") \(Int(seconds)) s", name: name, path: path))
        }
        var options = DaemonHarness.Options()
        options.workers = 3
        options.settleSeconds = 0.2
        options.recoveryPollSeconds = 0.2
        options.extraTOML = s3TOML(s3, prefix: "kill", endpoint: proxy.endpoint, extra: "parallelism = 1")
            + retryTOML(baseSeconds: 0.2, maxSeconds: 1, maxAttempts: 1000)
        let d = try DaemonHarness(options)
        defer { d.cleanUp() }

        // Rounds of one kill at each point, each round in a seeded order: every point is tried early, while
        // there is plenty of work in flight, and again throughout.
        var schedule: [KillPoint] = []
        while schedule.count < killCount { schedule += KillPoint.allCases.shuffled(using: &rng) }
        schedule = Array(schedule.prefix(killCount))
        var released = 0
        var claimKillsLeft = schedule.filter { $0 == .claim }.count
        func release() throws {
            let drop = drops[released]
            try d.drop(media: drop.path, as: drop.name, sidecar: ["title": drop.title])
            released += 1
        }
        func unfinished() throws -> Int { released - (Int(try d.sql("SELECT count(*) FROM videos WHERE status='ready'")) ?? 0) }
        var hits: [KillPoint: Int] = [:]
        var misses: [String] = []
        var killedPhases: [String: Int] = [:]
        for (cycle, point) in schedule.enumerated() {
            let cursor = d.logLength()
            try d.start()
            // Keep work in flight, saving drops for the claim kills still to come unless nothing would run.
            if point == .claim { claimKillsLeft -= 1 }
            while released < dropCount {
                let inFlight = try unfinished()
                guard inFlight < 2, dropCount - released > claimKillsLeft || inFlight == 0 else { break }
                try release()
            }
            let hit: Bool
            switch point {
            case .claim:
                guard released < dropCount else { hit = false; break }
                let sidecar = d.incoming + "/" + drops[released].name + ".json"
                try release()
                hit = spin(timeout: 10) { !FileManager.default.fileExists(atPath: sidecar) }
                usleep(UInt32.random(in: 0...3000, using: &rng))
            case .converting:
                hit = try unfinished() > 0 && spin(timeout: 15, every: 10_000) {
                    (try? d.sql("SELECT count(*) FROM videos WHERE phase='converting'")) ?? "0" != "0"
                }
                Thread.sleep(forTimeInterval: Double.random(in: 0...0.5, using: &rng))
            case .uploading:
                hit = try unfinished() > 0 && spin(timeout: 15, every: 1_000) { d.logText(from: cursor).contains("S3 upload started") }
                Thread.sleep(forTimeInterval: Double.random(in: 0...0.6, using: &rng))
            case .commit:
                // The master playlist is the last object uploaded, right before the commit; "Video conversion
                // completed" is logged right after it, before the job's directories are removed.
                let before = Bool.random(using: &rng)
                hit = try unfinished() > 0 && spin(timeout: 15, every: 1_000) {
                    d.logText(from: cursor).split(separator: "\n").contains {
                        before ? $0.contains("S3 object uploaded") && $0.contains("master.m3u8") : $0.contains("Video conversion completed")
                    }
                }
                usleep(UInt32.random(in: 0...2000, using: &rng))
            }
            d.kill9()
            if hit { hits[point, default: 0] += 1 } else { misses.append("#\(cycle) \(point)") }
            for phase in try d.sql("SELECT phase FROM videos WHERE status='processing'").split(separator: "\n") {
                killedPhases[String(phase), default: 0] += 1
            }
            report.runs += 1
        }
        while released < dropCount { try release() }
        try d.start()
        let titles = drops.map(\.title)
        _ = try eventually(timeout: 300, "all \(dropCount) jobs to end") { () -> Bool? in
            let done = Int(try d.sql("SELECT count(*) FROM videos WHERE status IN ('ready','failed')")) ?? 0
            return done >= dropCount ? true : nil
        }
        let landed = hits.map { "\($0.key.rawValue) \($0.value)" }.sorted().joined(separator: ", ")
        print("[fault-injection] kill -9 loop: \(killCount) kills landed at \(landed); missed \(misses); "
            + "jobs caught per phase: \(killedPhases.sorted { $0.key < $1.key })")
        for point in KillPoint.allCases {
            #expect(hits[point, default: 0] >= 1, "no kill landed at \(point.rawValue) (missed: \(misses))")
        }

        let ids = try expectEachReadyExactlyOnce(d, titles: titles, report: &report)
        try expectExactlyThePublishedObjects(s3, prefix: "kill/videos/", ids: Set(ids.values), report: &report)
        for drop in drops {
            guard let id = ids[drop.title], let j = try d.status(id).json else { continue }
            _ = try Check.playable(j, sourcePath: drop.path)
        }
        report.notes = "kills \(killCount) (\(landed)), attempts \(try d.sql("SELECT sum(attempts) FROM videos"))"
        report.print()
    }

    @Test func sigtermWithFourRunningJobsStopsInTimeAndEveryJobResumes() throws {
        let media = try MediaFactory()
        let src = try media.vp9Opus(seconds: 20, width: 640, height: 480)
        var options = DaemonHarness.Options()
        options.workers = 4
        options.shutdownGraceSeconds = 1
        let d = try DaemonHarness(options)
        defer { d.cleanUp() }
        var report = FaultReport(scenario: "SIGTERM under load", runs: 2)
        try d.start()
        let titles = (0..<4).map { "load \($0)" }
        for (i, title) in titles.enumerated() { try d.drop(media: src, as: "load\(i).webm", sidecar: ["title": title]) }
        _ = try eventually(timeout: 60, "4 jobs converting at once") { () -> Bool? in
            try d.sql("SELECT count(*) FROM videos WHERE phase='converting'") == "4" ? true : nil
        }

        let stop = d.stopGracefully(within: options.shutdownGraceSeconds + 5)

        #expect(stop.exitedInTime, "inboxd did not exit within shutdown_grace_seconds + 5 s of SIGTERM\n\(d.logText().suffix(3000))")
        #expect(stop.status == 0)
        let waiting = try d.sql("SELECT count(*) FROM videos WHERE status='processing'")
        #expect(waiting == "4", "the grace is too short for any of them to finish, so all four wait for the next start")
        #expect(Check.entries(d.inbox + "/processing").count == 4)
        #expect(Check.entries(d.inbox + "/work").isEmpty, "scratch is removed on the way out")

        try d.start()
        for title in titles { _ = try d.waitFor(try d.videoID(title: title), timeout: 240) }
        try expectEachReadyExactlyOnce(d, titles: titles, report: &report)
        report.print()
    }
}

/// The `[s3]` table for a SeaweedFS (or the fault proxy in front of it: `endpoint`), with playback URLs pointing
/// straight at the server.
func s3TOML(_ s3: SeaweedFS, prefix: String, endpoint: String? = nil, extra: String = "") -> String {
    """

    [s3]
    endpoint = "\(endpoint ?? s3.endpoint)"
    region = "\(s3.region)"
    bucket = "\(s3.bucket)"
    prefix = "\(prefix)"
    access_key_id = "\(s3.accessKey)"
    secret_access_key = "\(s3.secretKey)"
    public_base_url = "\(s3.endpoint)/\(s3.bucket)"
    \(extra)

    """
}

/// The bucket holds exactly what the ready jobs' playlists reference: one tree per job, no object from an
/// interrupted attempt left beside it, nothing for a job that is not ready.
func expectExactlyThePublishedObjects(_ s3: SeaweedFS, prefix: String, ids: Set<String>, report: inout FaultReport) throws {
    var byID: [String: Set<String>] = [:]
    for key in try s3.listKeys(prefix: prefix) {
        let rest = key.dropFirst(prefix.count)
        guard let slash = rest.firstIndex(of: "/") else { continue }
        byID[String(rest[..<slash]), default: []].insert(String(rest[rest.index(after: slash)...]))
    }
    #expect(Set(byID.keys) == ids, "object trees for \(byID.keys.sorted()), ready jobs \(ids.sorted())")
    for id in ids {
        var expected: Set<String> = ["master.m3u8", "thumbnail.jpg"]
        let master = try s3.object(prefix + id + "/master.m3u8")
        for playlist in master.split(separator: "\n") where !playlist.hasPrefix("#") && !playlist.isEmpty {
            expected.insert(String(playlist))
            let dir = (String(playlist) as NSString).deletingLastPathComponent
            let index = try s3.object(prefix + id + "/" + playlist)
            for segment in index.split(separator: "\n") where !segment.hasPrefix("#") && !segment.isEmpty {
                expected.insert(dir.isEmpty ? String(segment) : dir + "/" + segment)
            }
        }
        let stored = byID[id] ?? []
        let stray = stored.subtracting(expected)
        if !stray.isEmpty { report.duplicated += 1 }
        #expect(stray.isEmpty, "\(id): objects no playlist references: \(stray.sorted())")
        #expect(expected.subtracting(stored).isEmpty, "\(id): referenced but missing: \(expected.subtracting(stored).sorted())")
    }
}

/// Spins (every `every` µs) until `condition` holds; false after `timeout` seconds.
func spin(timeout: Double, every: UInt32 = 500, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(every)
    }
    return false
}
