import Foundation
import TestSupport
import Testing

/// A running `inboxd` with an `[s3]` table publishes to a real S3 server (SeaweedFS on 127.0.0.1).
@Suite(.serialized) struct S3EndToEndTests {
    private func s3TOML(_ s3: SeaweedFS, secret: String? = nil) -> String {
        """
        [s3]
        endpoint = "\(s3.endpoint)"
        region = "\(s3.region)"
        bucket = "\(s3.bucket)"
        prefix = "e2e"
        access_key_id = "\(s3.accessKey)"
        secret_access_key = "\(secret ?? s3.secretKey)"
        """
    }

    @Test func aDropIsPublishedToS3AndPlaysFromThere() throws {
        let s3 = try SeaweedFS()
        defer { s3.stop() }
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 6)
        var options = DaemonHarness.Options()
        options.extraTOML = s3TOML(s3)
        let d = try DaemonHarness(options)
        defer { d.cleanUp() }
        try d.start()

        let id = "6f1c2a5e-3b7d-4c1e-9a2f-0d5e8b7c4a11"
        try d.drop(media: src, as: "talk.mp4", sidecar: ["title": "To S3", "video_id": id])
        let done = try d.waitFor(id)

        #expect(done["status"] as? String == "ready", "\(done)")
        let base = "\(s3.endpoint)/\(s3.bucket)/e2e/videos/\(id)"
        #expect(done["video_url"] as? String == "\(base)/master.m3u8")
        #expect(done["thumbnail_url"] as? String == "\(base)/thumbnail.jpg")
        _ = try Check.playable(done, sourcePath: src)
        let head = try Shell.run("curl", ["-sfI", "\(base)/master.m3u8"])
        #expect(head.stdout.lowercased().contains("content-type: application/vnd.apple.mpegurl"), "\(head.stdout)")
        #expect(d.logText().contains("S3 upload finished"))
        Check.inboxIsClean(d)
    }

    /// `path_style = false`: requests go to `<bucket>.<endpoint host>` (SeaweedFS runs with `-s3.domainName=localhost`).
    /// Objects only land where the playback URL finds them if host, path and signature agree.
    @Test(.enabled(if: !SeaweedFS.externalFromEnvironment, "needs the local server's virtual-host domain"))
    func virtualHostedAddressingPublishesToo() throws {
        let s3 = try SeaweedFS(bucket: "inboxd-vhost")
        defer { s3.stop() }
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 2)
        let endpoint = s3.endpoint.replacingOccurrences(of: "127.0.0.1", with: "localhost")
        var options = DaemonHarness.Options()
        options.extraTOML = s3TOML(s3).replacingOccurrences(of: s3.endpoint, with: endpoint) + "\npath_style = false\n"
        let d = try DaemonHarness(options)
        defer { d.cleanUp() }
        try d.start()
        try d.drop(media: src, as: "v.mp4", sidecar: ["title": "vhost"])
        let done = try d.waitFor(try d.videoID(title: "vhost"))
        #expect(done["status"] as? String == "ready", "\(done)")
        let port = endpoint.split(separator: ":").last.map(String.init) ?? ""
        #expect(d.logText().contains("s3.host=inboxd-vhost.localhost:\(port)"), "requests were not virtual-hosted")
        #expect((done["video_url"] as? String ?? "").hasPrefix("\(endpoint)/inboxd-vhost/e2e/videos/"), "\(done)")
        _ = try Check.playable(done, sourcePath: src)
    }

    @Test func aWrongSecretFailsTheJobWithTheServersAnswer() throws {
        let s3 = try SeaweedFS()
        defer { s3.stop() }
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 2)
        var options = DaemonHarness.Options()
        options.extraTOML = s3TOML(s3, secret: "not-the-secret")
        let d = try DaemonHarness(options)
        defer { d.cleanUp() }
        try d.start()

        try d.drop(media: src, as: "talk.mp4", sidecar: ["title": "Bad key"])
        let id = try d.videoID(title: "Bad key")
        let done = try d.waitFor(id)

        #expect(done["status"] as? String == "failed", "\(done)")
        // Publishing runs beside the conversion (the poster goes up first), so the refusal comes while converting.
        #expect(done["phase"] as? String == "converting")
        let error = try #require(done["error"] as? String)
        #expect(error.contains("403 SignatureDoesNotMatch"), "\(error)")
        #expect(error.contains("S3 PUT e2e/videos/\(id)/"), "\(error)")
        #expect(done["failure_reason"] as? String == "publish", "\(done)")
    }

    @Test func theAdminPublishCommandUploadsADirectoryMasterLast() throws {
        let s3 = try SeaweedFS()
        defer { s3.stop() }
        var options = DaemonHarness.Options()
        options.extraTOML = s3TOML(s3)
        let d = try DaemonHarness(options)
        defer { d.cleanUp() }
        let dir = d.root + "/manual"
        try FileManager.default.createDirectory(atPath: dir + "/720p", withIntermediateDirectories: true)
        try "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n720p/index.m3u8\n".write(toFile: dir + "/master.m3u8", atomically: true, encoding: .utf8)
        try "#EXTM3U\n#EXTINF:1,\nseg_000.ts\n#EXT-X-ENDLIST\n".write(toFile: dir + "/720p/index.m3u8", atomically: true, encoding: .utf8)
        try Data(repeating: 0x47, count: 188 * 10).write(to: URL(fileURLWithPath: dir + "/720p/seg_000.ts"))

        let result = try d.cli(["publish", dir, "--prefix", "manual/one"])

        #expect(result.status == 0, "\(result.stderr)")
        // stdout is the keys, one a line (logs go to stderr), so scripts can read them.
        let keys = result.stdout.split(separator: "\n").map(String.init)
        #expect(keys == ["manual/one/720p/seg_000.ts", "manual/one/720p/index.m3u8", "manual/one/master.m3u8"])
        let get = try Shell.run("curl", ["-sf", "\(s3.endpoint)/\(s3.bucket)/manual/one/720p/index.m3u8"])
        #expect(get.stdout.contains("seg_000.ts"))
    }

    @Test(.enabled(if: !SeaweedFS.externalFromEnvironment, "stops and restarts the S3 server"))
    func s3DownDuringTheUploadAndBackLaterEndsReady() throws {
        let s3 = try SeaweedFS(bucket: "e2e-outage")
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 4)
        var options = DaemonHarness.Options()
        options.extraTOML = s3TOML(s3) + "\nmax_attempts = 12\n"
        let d = try DaemonHarness(options)
        defer { d.cleanUp() }
        try d.start()
        s3.stop()
        try d.drop(media: src, as: "o.mp4", sidecar: ["title": "outage"])
        let id = try d.videoID(title: "outage")
        // Publishing starts with the poster, before the conversion, and runs beside it.
        try d.waitForLog("S3 request failed, retrying", timeout: 60)
        Thread.sleep(forTimeInterval: 2)
        #expect(try d.status(id).json?["status"] as? String == "processing", "still retrying")
        try s3.start()
        let j = try d.waitFor(id, timeout: 180)
        #expect(j["status"] as? String == "ready", "\(j)")
        _ = try Check.playable(j, sourcePath: src)
        #expect(try d.sql("SELECT attempts FROM videos WHERE video_id='\(id)'") == "1", "retried inside one attempt")
    }
}
