import Foundation
import TestSupport
import Testing

/// Shared expectations about a finished job, from the user's side: URLs that play, a JPEG, a clean inbox.
enum Check {
    /// The published master playlist opens in ffprobe over HTTP; returns its probe.
    static func playable(_ json: [String: Any], sourcePath: String? = nil) throws -> FFprobe {
        let url = try #require(json["video_url"] as? String)
        #expect(url.hasSuffix("/master.m3u8"))
        let probe = try FFprobe(path: url)
        #expect(probe.video?.codecName == "h264")
        if let sourcePath, let src = try FFprobe(path: sourcePath).durationSeconds, let out = probe.durationSeconds {
            #expect(abs(src - out) <= 0.5, "output \(out) s vs input \(src) s")
        }
        let thumb = try #require(json["thumbnail_url"] as? String)
        let file = NSTemporaryDirectory() + "/thumb-\(UUID().uuidString).jpg"
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(try Shell.run("curl", ["-sf", thumb, "-o", file]).status == 0)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        #expect(bytes.prefix(3).elementsEqual([0xFF, 0xD8, 0xFF]), "thumbnail is not a JPEG")
        #expect(try FFprobe(path: file).video?.codecName == "mjpeg")
        return probe
    }

    /// Nothing left in `work/` or `processing/` once jobs ended.
    static func inboxIsClean(_ d: DaemonHarness) {
        #expect(entries(d.inbox + "/work").isEmpty, "work/ not empty: \(entries(d.inbox + "/work"))")
        #expect(entries(d.inbox + "/processing").isEmpty, "processing/ not empty: \(entries(d.inbox + "/processing"))")
    }

    static func entries(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { !$0.hasPrefix(".") }
    }
}

/// Retries `body` until it returns non-nil (the daemon reacts asynchronously to file operations).
func eventually<T>(timeout: Double = 30, _ what: String, _ body: () throws -> T?) throws -> T {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if let v = try body() { return v }
        usleep(100_000)
    }
    throw HarnessError.timeout("timed out after \(timeout) s waiting for \(what)")
}

/// Waits until the job's status answer shows `phase`.
/// Waits until job `id` is in `phase`; returns the status answer that showed it (a later read may already be past it).
@discardableResult
func waitForPhase(_ d: DaemonHarness, _ id: String, _ phase: String, timeout: Double = 60) throws -> [String: Any] {
    try eventually(timeout: timeout, "job \(id) to reach phase \(phase)") { () -> [String: Any]? in
        guard let json = try? d.status(id).json, json["phase"] as? String == phase else { return nil }
        return json
    }
}

/// Two daemons sharing one inbox and one db (`extraTOML` given to both), started; cleaned up after `body`.
func withTwoDaemonsOnOneInbox(extraTOML: String = "", orphanSeconds: Double = 3600,
                              _ body: (DaemonHarness, DaemonHarness) throws -> Void) throws {
    var options = DaemonHarness.Options()
    options.workers = 2
    options.orphanSeconds = orphanSeconds
    options.extraTOML = extraTOML
    let a = try DaemonHarness(options)
    defer { a.cleanUp() }
    options.sharing = a
    let b = try DaemonHarness(options)
    defer { b.cleanUp() }
    try a.start()
    try b.start()
    try body(a, b)
}

/// Drops `count` one-second clips into `d`'s inbox and expects every job ready, each claimed once, in one attempt.
func dropClipsAndExpectEachReadyOnce(_ d: DaemonHarness, count: Int, timeout: Double) throws {
    let media = try MediaFactory()
    let src = try media.h264AAC(seconds: 1, width: 64, height: 48)
    for i in 0..<count {
        try d.drop(media: src, as: "d\(i).mp4", sidecar: ["title": "drop \(i)"])
    }
    _ = try eventually(timeout: timeout, "\(count) finished jobs") { () -> Bool? in
        (try? d.sql("SELECT count(*) FROM videos WHERE status IN ('ready','failed')")) == "\(count)" ? true : nil
    }
    #expect(try d.sql("SELECT count(*) FROM videos") == "\(count)")
    #expect(try d.sql("SELECT count(*) FROM videos WHERE status='ready'") == "\(count)")
    #expect(try d.sql("SELECT count(DISTINCT title) FROM videos") == "\(count)")
    #expect(try d.sql("SELECT count(*) FROM events WHERE message='claimed'") == "\(count)")
    #expect(try d.sql("SELECT max(attempts) FROM videos") == "1")
}

/// Into an inbox shared by several daemons: 30 drops that can never succeed (20 sidecars with a blank title, 4 sidecars
/// whose media never comes within `orphan_seconds` (which must be short), 3 symlinks as media, 3 names that are not
/// UTF-8) among 10 good ones. Each bad drop is rejected by one daemon only, as a good one is claimed by one: exactly
/// one failed row per bad drop (so one `video.failed`), its files in one `failed/<id>/`, and the daemons that lost
/// the race say nothing above `debug`. `sql` reads the shared store. `orphans: false` makes the 4 orphans blank-titled
/// drops too: daemons on one host see each other's reads of a waiting sidecar through inotify as opens.
func dropBadAmongGoodAndExpectEachRejectedOnce(_ nodes: [DaemonHarness], orphans: Bool = true,
                                               sql: (String) throws -> String) throws {
    let d = nodes[0]
    let media = try MediaFactory()
    let clip = try media.h264AAC(seconds: 1, width: 64, height: 48)
    var kept: [String] = []  // the name under which each bad drop's first file must be found once in failed/
    for i in 0..<40 {
        switch (i % 4, i % 10) {
        case (0, _): try d.drop(media: clip, as: "good\(i).mp4", sidecar: ["title": "good \(i)"])
        case (_, 7) where orphans:
            try d.drop(media: nil, as: "orphan\(i).mp4", sidecar: ["title": "orphan \(i)"])
            kept.append("orphan\(i).mp4.json")
        case (_, 8...) where i < 20:
            try FileManager.default.createSymbolicLink(atPath: d.incoming + "/link\(i).mp4", withDestinationPath: clip)
            try d.writeSidecar(["title": "link \(i)"], to: d.incoming + "/link\(i).mp4.json")
            kept.append("link\(i).mp4.json")
        case (_, 8...):
            let name = Array("bad\(i)-caf".utf8) + [0xE9] + Array(".mp4".utf8)  // "café" in Latin-1
            let fd = open((Array((d.incoming + "/").utf8) + name).map { CChar(bitPattern: $0) } + [0], O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            #expect(fd >= 0)
            close(fd)
            kept.append("bad\(i)-caf\\xE9.mp4")  // its escaped name
        default:
            try d.drop(media: clip, as: "blank\(i).mp4", sidecar: ["title": " \t"])
            kept.append("blank\(i).mp4.json")
        }
    }
    #expect(kept.count == 30)
    do {
        _ = try eventually(timeout: 60, "40 finished jobs") { () -> Bool? in
            Int((try? sql("SELECT count(*) FROM videos WHERE status IN ('ready','failed')")) ?? "") ?? 0 >= 40 ? true : nil
        }
    } catch {
        let rows = (try? sql("SELECT status, count(*) FROM videos GROUP BY status")) ?? "?"
        Issue.record("\(error); rows: \(rows); incoming: \(Check.entries(d.incoming))\n\(nodes.map { $0.logText().suffix(3000) })")
        return
    }
    // Give a daemon that lost a race the time to (wrongly) record it: a late row would show here.
    Thread.sleep(forTimeInterval: 1)
    #expect(try sql("SELECT count(*) FROM videos") == "40")
    #expect(try sql("SELECT count(*) FROM videos WHERE status = 'ready'") == "10")
    #expect(try sql("SELECT count(*) FROM videos WHERE status = 'failed'") == "30")
    #expect(try sql("SELECT count(DISTINCT title) FROM videos WHERE status = 'failed'") == "30")
    #expect(try sql("SELECT count(*) FROM events WHERE status = 'failed'") == "30")

    let failedRoot = d.inbox + "/failed"
    let dirs = Check.entries(failedRoot)
    #expect(dirs.count == 30, "one failed/<id>/ per bad drop: \(dirs.count)")
    let ids = Set(try sql("SELECT video_id FROM videos WHERE status = 'failed'").split(separator: "\n").map(String.init))
    #expect(Set(dirs) == ids, "each failed row has its directory")
    let files = dirs.flatMap { Check.entries(failedRoot + "/" + $0) }
    for name in kept {
        #expect(files.filter { $0 == name }.count == 1, "\(name) kept once in failed/")
    }
    #expect(Check.entries(d.incoming).isEmpty, "incoming/ emptied: \(Check.entries(d.incoming))")
    for node in nodes {
        let errors = node.logText().split(separator: "\n").filter { $0.contains(" error ") || $0.contains(" critical ") }
        #expect(errors.allSatisfy { $0.contains("Background processing failed for video") }, "\(errors.prefix(5))")
    }
    let reported = nodes.map { $0.logText().components(separatedBy: "Background processing failed for video").count - 1 }
    #expect(reported.reduce(0, +) == 30, "each failure reported once: \(reported)")
}
