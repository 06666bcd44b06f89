import Foundation
import TestSupport
import Testing

/// A user drops files into `incoming/` of a running `inboxd` and watches the status API.
@Suite(.serialized) struct EndToEndTests {
    @Test func anH264DropIsRemuxedPublishedAndServed() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 8)
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        try d.start()

        let id = "0f8fad5b-d9cb-469f-a165-70867728950e"
        try d.drop(media: src, as: "talk.mp4", sidecar: ["title": "Talk", "video_id": id, "visibility": "published",
                                                         "custom": ["kept": true]])
        let first = try d.waitFor(id, ["processing", "ready"])
        #expect(first["video_id"] as? String == id)
        let done = try d.waitFor(id)
        #expect(done["status"] as? String == "ready", "\(done)")
        #expect(done["phase"] as? String == "done")
        #expect(done["progress"] as? Double == 1.0)
        #expect(done["title"] as? String == "Talk")
        for key in ["created_at", "updated_at"] {
            #expect((done[key] as? String)?.hasSuffix("Z") == true)
        }
        let probe = try Check.playable(done, sourcePath: src)
        #expect(probe.audio?.codecName == "aac")

        let row = try #require(HTTPClient.get("\(d.baseURL)/api/videos/\(id)").json)
        #expect(row["video_codec"] as? String == "h264")
        #expect(row["audio_codec"] as? String == "aac")
        #expect(row["width"] as? Int == 320)
        #expect(row["source"] as? String == "drop")
        #expect(row["visibility"] as? String == "published")
        #expect(row["attempts"] as? Int == 1)
        #expect((row["sidecar"] as? String)?.contains("\"kept\"") == true, "unknown sidecar keys are kept")

        let log = d.logText()
        #expect(log.contains("Starting background processing for video \(id)"))
        #expect(log.contains("Video conversion completed: \(done["video_url"] as! String)"))
        #expect(log.contains("Background processing completed successfully for video \(id)"))
        #expect(log.contains("hls.mode=remux"))
        Check.inboxIsClean(d)
        #expect(Check.entries(d.incoming).isEmpty)
    }

    @Test func aVP9WebMIsTranscodedToH264() throws {
        let media = try MediaFactory()
        let src = try media.vp9Opus(seconds: 6)
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        try d.start()
        try d.drop(media: src, as: "clip.webm", sidecar: ["title": "webm"])
        let id = try d.videoID(title: "webm")
        let done = try d.waitFor(id)
        #expect(done["status"] as? String == "ready", "\(done)")
        let probe = try Check.playable(done, sourcePath: src)
        #expect(probe.audio?.codecName == "aac")
        #expect(d.logText().contains("hls.mode=transcode"))
        Check.inboxIsClean(d)
    }

    @Test func theConfiguredLadderAndSegmentFormatReachTheConversion() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 4)
        var options = DaemonHarness.Options()
        options.extraTOML = """
            ladder_copy_top = false
            segment_format = "fmp4"
            [[ladder]]
            height = 240
            video_bitrate = "300k"
            max_rate = "450k"
            [[ladder]]
            height = 120
            video_bitrate = "100k"
            max_rate = "150k"
            audio_bitrate = "64k"
            """
        let d = try DaemonHarness(options)
        defer { d.cleanUp() }
        try d.start()
        try d.drop(media: src, as: "ladder.mp4", sidecar: ["title": "ladder"])
        let id = try d.videoID(title: "ladder")
        let done = try d.waitFor(id)
        #expect(done["status"] as? String == "ready", "\(done)")
        _ = try Check.playable(done, sourcePath: src)
        let published = "\(d.output)/videos/\(id)"
        let master = try String(contentsOfFile: "\(published)/master.m3u8", encoding: .utf8)
        #expect(master.contains("RESOLUTION=320x240") && master.contains("RESOLUTION=160x120"), "\(master)")
        for rung in ["240p", "120p"] {
            #expect(FileManager.default.fileExists(atPath: "\(published)/\(rung)/init.mp4"))
            #expect(FileManager.default.fileExists(atPath: "\(published)/\(rung)/seg_00000.m4s"))
        }
        // Copy-top is off, so the H.264/AAC source is transcoded like any other.
        #expect(d.logText().contains("hls.mode=transcode"))
        #expect(d.logText().contains("hls.renditions=240p,120p"))
    }

    @Test func videoWithoutAudioAndAClipFromTheSidecar() throws {
        let media = try MediaFactory()
        let silent = try media.h264NoAudio(seconds: 6)
        let long = try media.h264AAC(seconds: 20, gopSeconds: 1, name: "long.mp4")
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        try d.start()
        try d.drop(media: silent, as: "silent.mp4", sidecar: ["title": "silent"])
        try d.drop(media: long, as: "long.mp4", sidecar: ["title": "clipped", "clip": ["start_s": 4, "duration_s": 8]])

        let silentDone = try d.waitFor(try d.videoID(title: "silent"))
        #expect(silentDone["status"] as? String == "ready", "\(silentDone)")
        let p = try Check.playable(silentDone, sourcePath: silent)
        #expect(p.audio == nil)

        let clipped = try d.waitFor(try d.videoID(title: "clipped"))
        #expect(clipped["status"] as? String == "ready", "\(clipped)")
        let c = try Check.playable(clipped)
        let duration = try #require(c.durationSeconds)
        #expect(abs(duration - 8) <= 1.0, "clip duration \(duration)")
    }

    @Test func unknownAndMalformedIdsGetJSONErrors() throws {
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        try d.start()
        let missing = try d.status("6fa459ea-ee8a-3ca4-894e-db77e160355e")
        #expect(missing.status == 404)
        #expect(missing.json?["error"] as? String == "not_found")
        #expect(missing.json?["detail"] != nil)
        let bad = try HTTPClient.get("\(d.baseURL)/api/videos/not%20an%20id!/status")
        #expect(bad.status == 400)
        #expect(bad.json?["error"] as? String == "invalid_video_id")
        #expect(try HTTPClient.get("\(d.baseURL)/healthz").status == 200)
    }
}
