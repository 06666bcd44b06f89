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
func withTwoDaemonsOnOneInbox(extraTOML: String = "", _ body: (DaemonHarness, DaemonHarness) throws -> Void) throws {
    var options = DaemonHarness.Options()
    options.workers = 2
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
