import Foundation
import Synchronization
import TestSupport
import Testing

/// Admin commands, as an operator types them.
@Suite(.serialized) struct CLITests {
    @Test func convertMakesHLSWithoutADaemonOrDb() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 12, gopSeconds: 1)
        let out = try TempDir("convert")
        defer { out.remove() }
        let r = try Shell.run(DaemonHarness.binary, ["convert", src, out.path + "/hls", "--clip", "2,6"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("master.m3u8"))
        let probe = try FFprobe(path: out.path + "/hls/master.m3u8")
        #expect(probe.video?.codecName == "h264")
        #expect(abs((probe.durationSeconds ?? 0) - 6) <= 1.0)
        #expect(FileManager.default.fileExists(atPath: out.path + "/hls/thumbnail.jpg"))

        let bad = try Shell.run(DaemonHarness.binary, ["convert", try media.randomBytes(), out.path + "/bad"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("cannot read media"), "\(bad.stderr)")
        let clip = try Shell.run(DaemonHarness.binary, ["convert", src, out.path + "/x", "--clip", "abc"])
        #expect(clip.status != 0)
        #expect(clip.stderr.contains("--clip expects START,DURATION"), "\(clip.stderr)")
    }

    /// The daemon starting while an admin runs a command: both open a new db and migrate it at the same moment.
    @Test func processesOpeningANewDbAtOnceAllSucceed() throws {
        let dir = try TempDir("migrate")
        defer { dir.remove() }
        try "inbox = \"inbox\"\ndb = \"new.db\"\noutput = \"output\"\n".write(toFile: dir.path + "/c.toml", atomically: true, encoding: .utf8)
        for round in 1...10 {
            for f in ["new.db", "new.db-wal", "new.db-shm"] { try? FileManager.default.removeItem(atPath: dir.path + "/" + f) }
            let results = Mutex<[Shell.Result]>([])
            DispatchQueue.concurrentPerform(iterations: 6) { _ in
                let r = try? Shell.run(DaemonHarness.binary, ["status", "6fa459ea-ee8a-3ca4-894e-db77e160355e", "--config", dir.path + "/c.toml"])
                if let r { results.withLock { $0.append(r) } }
            }
            let all = results.withLock { $0 }
            #expect(all.count == 6)
            for r in all { #expect(r.stderr.contains("no job with id"), "round \(round): \(r.stderr)") }
        }
    }

    @Test func statusShowsOneJobAndVersionPrints() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 2)
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        try d.start()
        try d.drop(media: src, as: "s.mp4", sidecar: ["title": "cli status"])
        let id = try d.videoID(title: "cli status")
        _ = try d.waitFor(id)
        let r = try d.cli(["status", id])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("status:     ready"), "\(r.stdout)")
        #expect(r.stdout.contains("video_url:  http://127.0.0.1:\(d.port)/videos/\(id)/master.m3u8"))
        let missing = try d.cli(["status", "6fa459ea-ee8a-3ca4-894e-db77e160355e"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("no job with id"))
        let v = try Shell.run(DaemonHarness.binary, ["--version"])
        #expect(v.stdout.hasPrefix("inboxd "))
    }

    @Test func aSidecarThumbnailIsUsedInsteadOfAGeneratedOne() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 2)
        let png = try media.png(width: 800, height: 600)
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        try d.start()
        try FileManager.default.copyItem(atPath: png, toPath: d.incoming + "/cover.png")
        try d.drop(media: src, as: "withthumb.mp4", sidecar: ["title": "thumb", "thumbnail": "cover.png"])
        let j = try d.waitFor(try d.videoID(title: "thumb"))
        #expect(j["status"] as? String == "ready", "\(j)")
        let thumb = try FFprobe(path: try #require(j["thumbnail_url"] as? String))
        #expect(thumb.video?.codecName == "mjpeg")
        #expect(thumb.video?.width == 640)
        #expect(thumb.video?.height == 480, "the cover's 4:3, not the video's 320x240 frame scaled")
        #expect(!FileManager.default.fileExists(atPath: d.incoming + "/cover.png"), "claimed with its drop")
    }
}
