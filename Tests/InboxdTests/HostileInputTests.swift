import Foundation
import TestSupport
import Testing

/// Inputs found by probing with hostile clients and producers: each gets a clear error and loses nothing.
@Suite(.serialized) struct HostileInputTests {
    /// A client-chosen name must never turn the media into a sidecar: `x.mp4.json` / `x.json` uploads are stored
    /// under a media extension and end ready under the 202's id.
    @Test func uploadsNamedLikeASidecarStillBecomeTheirOwnJob() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 2)
        let rig = try ReceiverRig()
        defer { rig.d.cleanUp() }
        let putID = UUID().uuidString.lowercased()
        let put = try CurlResult.run(["-T", src, "-H", "Content-Type: video/mp4",
                                      "\(rig.d.baseURL)/api/videos/\(putID)/file?title=put-json&filename=x.mp4.json"], token: rig.uploader)
        #expect(put.status == 202, "\(put.body)")
        let multi = try CurlResult.run(["-F", "video=@\(src);filename=x.json;type=video/mp4", "-F", "title=multipart-json",
                                        "\(rig.d.baseURL)/api/videos/"], token: rig.uploader)
        #expect(multi.status == 202, "\(multi.body)")
        let multiID = try #require(multi.json?["video_id"] as? String)
        for id in [putID, multiID] {
            let j = try rig.d.waitFor(id)
            #expect(j["status"] as? String == "ready", "\(id): \(j)")
        }
        #expect(try rig.rowCount() == 2, "no second row under another id")
        Check.inboxIsClean(rig.d)
    }

    @Test func pathsWithNULOrTraversalAreRefusedWithJSON() throws {
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        try d.start()
        let id = UUID().uuidString.lowercased()
        let nul = try HTTPClient.request(["--path-as-is", "\(d.baseURL)/videos/\(id)/master.m3u8%00.jpg"])
        #expect(nul.status == 400, "\(nul.body)")
        #expect(nul.json?["error"] as? String == "bad_path", "\(nul.body)")
        #expect((nul.json?["detail"] as? String ?? "").contains("NUL"))
        let traversal = try HTTPClient.request(["--path-as-is", "\(d.baseURL)/videos/../inboxd.db"])
        #expect(traversal.status == 400, "\(traversal.body)")
        #expect(traversal.json?["error"] as? String == "bad_path", "an empty 400 is not the contract: '\(traversal.body)'")
        let encoded = try HTTPClient.request(["--path-as-is", "\(d.baseURL)/videos/%2e%2e/inboxd.db"])
        #expect(encoded.status == 400, "\(encoded.body)")
    }

    /// A file whose name is not valid UTF-8 (e.g. Latin-1 from an old system) fails with a row that names it.
    @Test func aFileNameThatIsNotUTF8FailsNamingTheFile() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 1)
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        try d.start()
        let name: [UInt8] = Array("caf".utf8) + [0xE9] + Array(".mp4".utf8)  // "café.mp4" in Latin-1
        let path = Array((d.incoming + "/").utf8) + name
        let data = try Data(contentsOf: URL(fileURLWithPath: src))
        let fd = open(path.map { CChar(bitPattern: $0) } + [0], O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        #expect(fd >= 0)
        _ = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        let id = try d.videoID(title: "caf\\xE9.mp4")
        let j = try d.waitFor(id)
        #expect(j["status"] as? String == "failed")
        #expect(j["failure_reason"] as? String == "unsafe_file", "\(j)")
        #expect((j["error"] as? String ?? "").contains("'caf\\xE9.mp4' is not valid UTF-8"), "\(j)")
        #expect(FileManager.default.fileExists(atPath: "\(d.inbox)/failed/\(id)/caf\\xE9.mp4"), "kept, under an escaped name")
        #expect(Check.entries(d.incoming).isEmpty)
    }

    /// A hard link can expose a file from outside the inbox (as in mail systems): refused unless configured.
    @Test func mediaWithASecondHardLinkIsRefusedUnlessAllowed() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 1)
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        try d.start()
        let outside = d.root + "/secret.mp4"
        try FileManager.default.copyItem(atPath: src, toPath: outside)
        try FileManager.default.linkItem(atPath: outside, toPath: d.incoming + "/linked.mp4")
        try d.writeSidecar(["title": "linked"], to: d.incoming + "/linked.mp4.json")
        let id = try d.videoID(title: "linked")
        let j = try d.waitFor(id)
        #expect(j["status"] as? String == "failed")
        #expect(j["failure_reason"] as? String == "unsafe_file")
        #expect((j["error"] as? String ?? "").contains("has 2 hard links"), "\(j)")
        d.stop()

        try (try String(contentsOfFile: d.configPath, encoding: .utf8) + "\nallow_hard_links = true\n")
            .write(toFile: d.configPath, atomically: true, encoding: .utf8)
        try d.start()
        try FileManager.default.linkItem(atPath: outside, toPath: d.incoming + "/allowed.mp4")
        try d.writeSidecar(["title": "allowed"], to: d.incoming + "/allowed.mp4.json")
        #expect(try d.waitFor(try d.videoID(title: "allowed"))["status"] as? String == "ready")
    }

    @Test func smallerMessagesSayWhatIsTrue() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 1)
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        try d.start()
        // An oversized sidecar names its real size, not where reading stopped.
        try FileManager.default.copyItem(atPath: src, toPath: d.incoming + "/big.mp4")
        let huge = "{\"title\":\"x\",\"description\":\"" + String(repeating: "a", count: 200_000) + "\"}"
        try Data(huge.utf8).write(to: URL(fileURLWithPath: d.incoming + "/big.mp4.json"))
        let bigID = try d.videoID(title: "big.mp4")
        let big = try d.waitFor(bigID)
        #expect((big["error"] as? String ?? "").contains("sidecar is \(huge.utf8.count) bytes"), "\(big)")

        // A sidecar thumbnail that is not an image says so, not "no video stream".
        try FileManager.default.copyItem(atPath: src, toPath: d.incoming + "/thumb.mp4")
        try Data("not a picture".utf8).write(to: URL(fileURLWithPath: d.incoming + "/cover.jpg"))
        try d.writeSidecar(["title": "bad thumb", "thumbnail": "cover.jpg"], to: d.incoming + "/thumb.mp4.json")
        let thumb = try d.waitFor(try d.videoID(title: "bad thumb"))
        #expect(thumb["status"] as? String == "failed")
        #expect((thumb["error"] as? String ?? "").contains("cover.jpg"), "\(thumb)")
        #expect((thumb["error"] as? String ?? "").contains("the thumbnail is not an image"), "\(thumb)")
    }

    @Test func insufficientStorageDoesNotContradictItself() throws {
        let rig = try ReceiverRig(minFreeBytes: Int64(1) << 60)
        defer { rig.d.cleanUp() }
        let r = try CurlResult.run(["-X", "PUT", "--data-binary", "abc", "-H", "Content-Type: video/mp4",
                                    "\(rig.d.baseURL)/api/videos/\(UUID().uuidString)/file?title=t"], token: rig.uploader)
        #expect(r.status == 507)
        let detail = r.json?["detail"] as? String ?? ""
        #expect(detail.contains("below min_free_bytes"), "\(detail)")
        #expect(detail.contains("a body of 3 bytes would leave"), "\(detail)")
    }
}
