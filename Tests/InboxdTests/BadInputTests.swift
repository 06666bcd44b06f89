import Foundation
import TestSupport
import Testing

/// Every bad drop ends `failed` with an error that says what is wrong, its originals kept in `failed/<id>/`,
/// and the daemon keeps serving.
@Suite(.serialized) struct BadInputTests {
    @Test func brokenMediaFailsWithUsefulErrorsAndOriginalsAreKept() throws {
        let media = try MediaFactory()
        let cases: [(name: String, path: String, expect: String)] = [
            ("empty.mp4", try media.zeroByte(), "empty.mp4"),
            ("random.mp4", try media.randomBytes(), "random.mp4"),
            ("truncated.mp4", try media.truncated(), "truncated.mp4"),
            ("audio.m4a", try media.audioOnly(), "no video stream"),
        ]
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        try d.start()
        for c in cases { try d.drop(media: c.path, as: c.name, sidecar: ["title": "bad \(c.name)"]) }
        for c in cases {
            let id = try d.videoID(title: "bad \(c.name)")
            let j = try d.waitFor(id)
            #expect(j["status"] as? String == "failed")
            let error = j["error"] as? String ?? ""
            #expect(error.contains(c.expect), "error for \(c.name): \(error)")
            #expect(j["failure_reason"] as? String == "unreadable_media", "reason for \(c.name): \(j)")
            #expect(j["video_url"] as? String == "processing")
            #expect(FileManager.default.fileExists(atPath: "\(d.inbox)/failed/\(id)/\(c.name)"))
            #expect(FileManager.default.fileExists(atPath: "\(d.inbox)/failed/\(id)/\(c.name).json"))
            #expect(d.logText().contains("Background processing failed for video \(id): "))
        }
        Check.inboxIsClean(d)
        let metrics = try HTTPClient.get("\(d.baseURL)/metrics").body
        #expect(metrics.contains(#"inboxd_job_failures{reason="unreadable_media"} 4"#), "\(metrics)")
        #expect(metrics.contains(#"inboxd_job_failures{reason="convert"} 0"#), "\(metrics)")
        #expect(try HTTPClient.get("\(d.baseURL)/healthz").status == 200)
        #expect(d.isRunning)
    }

    @Test func badSidecarsFailNamingTheField() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 2)
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        try d.start()
        let cases: [(name: String, sidecar: Data, expect: String)] = [
            ("no-title.mp4", Data(#"{"description":"x"}"#.utf8), "'title' is required"),
            ("num-title.mp4", Data(#"{"title": 5}"#.utf8), "'title' must be a string"),
            ("bad-json.mp4", Data(#"{"title": "x""#.utf8), "not valid JSON"),
            ("latin1.mp4", Data([0x7B, 0x22, 0x74, 0x22, 0x3A, 0x22, 0xE9, 0x22, 0x7D]), "not valid UTF-8"),
            ("huge.mp4", Data(("{\"title\":\"x\",\"description\":\"" + String(repeating: "a", count: 70_000) + "\"}").utf8), "limit is 65536"),
            ("vis.mp4", Data(#"{"title":"x","visibility":"public"}"#.utf8), "'visibility'"),
            ("uuid.mp4", Data(#"{"title":"x","video_id":"123"}"#.utf8), "'video_id' must be a UUID"),
            ("clip.mp4", Data(#"{"title":"x","clip":{"start_s":-1}}"#.utf8), "'clip.start_s'"),
            ("url.mp4", Data(#"{"title":"x","source_url":"ftp://example.com/a.mp4"}"#.utf8), "'source_url'"),
            ("array.mp4", Data(#"["title"]"#.utf8), "must be a JSON object"),
        ]
        for c in cases {
            try FileManager.default.copyItem(atPath: src, toPath: d.incoming + "/" + c.name)
            try c.sidecar.write(to: URL(fileURLWithPath: d.incoming + "/" + c.name + ".json"))
        }
        for c in cases {
            // A sidecar that cannot be read gives no title: the row is titled after the media file.
            let id = try d.videoID(title: c.name)
            let j = try #require(try d.status(id).json)
            #expect(j["status"] as? String == "failed")
            #expect((j["error"] as? String ?? "").contains(c.expect), "\(c.name): \(j["error"] ?? "nil")")
            #expect(j["failure_reason"] as? String == "sidecar", "\(c.name): \(j)")
            #expect(FileManager.default.fileExists(atPath: "\(d.inbox)/failed/\(id)/\(c.name).json"), "\(c.name) sidecar kept")
            #expect(FileManager.default.fileExists(atPath: "\(d.inbox)/failed/\(id)/\(c.name)"), "\(c.name) media kept")
        }
        #expect(d.isRunning)
    }

    @Test func aNULCharacterInAnyTextFieldFailsTheDropNamingTheFieldInsteadOfCuttingTheText() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 1, width: 64, height: 48)
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        try d.start()
        let fields = ["title", "description", "user_id", "username"]
        for field in fields {
            var sidecar = ["title": "nul"]
            sidecar[field] = "cut\u{0}here"
            try d.drop(media: src, as: "nul-\(field).mp4", sidecar: sidecar)
        }
        for field in fields {
            let id = try d.videoID(title: "nul-\(field).mp4")
            let j = try d.waitFor(id)
            #expect(j["status"] as? String == "failed", "\(field): \(j)")
            #expect(j["failure_reason"] as? String == "sidecar", "\(field): \(j)")
            #expect((j["error"] as? String ?? "").contains("sidecar field '\(field)' contains a NUL character"), "\(field): \(j)")
        }
        #expect(try d.sql("SELECT count(*) FROM videos WHERE title = 'cut' OR description = 'cut' OR username = 'cut'") == "0")
    }

    @Test func aSymlinkIsNeverFollowedAndItsTargetIsUntouched() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 2)
        let outside = try TempDir("outside")
        defer { outside.remove() }
        let target = outside.path + "/secret.mp4"
        try FileManager.default.copyItem(atPath: src, toPath: target)
        let before = try Data(contentsOf: URL(fileURLWithPath: target))

        let d = try DaemonHarness()
        defer { d.cleanUp() }
        try d.start()
        try FileManager.default.createSymbolicLink(atPath: d.incoming + "/link.mp4", withDestinationPath: target)
        try d.writeSidecar(["title": "link"], to: d.incoming + "/link.mp4.json")
        mkfifo(d.incoming + "/pipe.mp4", 0o644)
        try d.writeSidecar(["title": "fifo"], to: d.incoming + "/pipe.mp4.json")

        let linkJob = try d.waitFor(try d.videoID(title: "link"))
        #expect(linkJob["status"] as? String == "failed")
        #expect((linkJob["error"] as? String ?? "").contains("symbolic link"), "\(linkJob)")
        let fifoJob = try d.waitFor(try d.videoID(title: "fifo"))
        #expect((fifoJob["error"] as? String ?? "").contains("FIFO"), "\(fifoJob)")
        #expect(linkJob["failure_reason"] as? String == "unsafe_file" && fifoJob["failure_reason"] as? String == "unsafe_file")
        #expect(try d.sql("SELECT failure_reason FROM videos WHERE video_id='\(linkJob["video_id"] as! String)'") == "unsafe_file")

        #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == before)
        let kept = "\(d.inbox)/failed/\(linkJob["video_id"] as! String)/link.mp4"
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: kept)) == target, "the link itself is kept")
        #expect(d.isRunning)
    }

    @Test func aChecksumMismatchFails() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 2)
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        try d.start()
        try d.drop(media: src, as: "sum.mp4", sidecar: ["title": "sum", "sha256": String(repeating: "ab", count: 32)])
        let j = try d.waitFor(try d.videoID(title: "sum"))
        #expect(j["status"] as? String == "failed")
        #expect((j["error"] as? String ?? "").contains("sha256 mismatch"))
        #expect(j["failure_reason"] as? String == "checksum")
    }

    @Test func aConfigWithAnUnknownKeyIsRefusedNamingIt() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        try "inbox = \"i\"\nworkerz = 3\n".write(toFile: dir.path + "/a.toml", atomically: true, encoding: .utf8)
        let r = try Shell.run(DaemonHarness.binary, ["run", "--config", dir.path + "/a.toml"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("unknown config key 'workerz'"), "\(r.stderr)")
        try "inbox = \"i\"\n[s3]\nendpoint = \"http://x\"\nbucket = \"b\"\naccess_key_id = \"k\"\nsecret_access_key = \"s\"\nregon = \"x\"\n"
            .write(toFile: dir.path + "/b.toml", atomically: true, encoding: .utf8)
        let s = try Shell.run(DaemonHarness.binary, ["run", "--config", dir.path + "/b.toml"])
        #expect(s.stderr.contains("unknown config key 's3.regon'"), "\(s.stderr)")
    }
}
