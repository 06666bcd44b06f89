import Foundation
import TestSupport
import Testing

/// tus 1.0 resumable uploads at `/api/uploads/`, over real HTTP on 127.0.0.1: the official Python client (tuspy),
/// a connection cut halfway through a PATCH, a daemon killed mid-upload, every refusal, termination and expiry.
@Suite(.serialized) struct ResumableUploadTests {
    typealias Answer = (status: Int, headers: [String: String], body: String)

    static let tusScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Support/fixtures/tus_upload.py").path

    /// `Upload-Metadata` as tus clients write it: `key base64(value)` pairs.
    static func metadata(_ fields: [String: String]) -> String {
        fields.sorted { $0.key < $1.key }.map { "\($0.key) \(Data($0.value.utf8).base64EncodedString())" }.joined(separator: ",")
    }

    static func sha256(_ path: String) throws -> String {
        String(try Shell.run("sha256sum", [path]).stdout.prefix(64))
    }

    /// A tus request with curl: status, headers (lower-cased), body.
    static func tus(_ args: [String], token: String?, tusHeader: Bool = true) throws -> Answer {
        var a = ["-H", "Expect:"]
        if let token { a += ["-H", "Authorization: Bearer \(token)"] }
        if tusHeader { a += ["-H", "Tus-Resumable: 1.0.0"] }
        return try CORSTests.head(a + args)
    }

    static func create(_ base: String, token: String?, length: Int, fields: [String: String], extra: [String] = []) throws -> Answer {
        try tus(["-X", "POST", "-H", "Upload-Length: \(length)", "-H", "Upload-Metadata: \(metadata(fields))"] + extra + ["\(base)/api/uploads/"],
                token: token)
    }

    static func head(_ base: String, _ id: String, token: String?) throws -> Answer {
        try tus(["-I", "\(base)/api/uploads/\(id)"], token: token)
    }

    /// PATCHes `bytes` at `offset` (written to a temp file for curl).
    static func patch(_ base: String, _ id: String, token: String?, offset: Int, bytes: ArraySlice<UInt8>, dir: TempDir,
                      extra: [String] = []) throws -> Answer {
        let chunk = dir.path + "/chunk-\(UUID().uuidString)"
        try Data(bytes).write(to: URL(fileURLWithPath: chunk))
        return try tus(["-X", "PATCH", "-H", "Upload-Offset: \(offset)", "-H", "Content-Type: application/offset+octet-stream"] + extra
                       + ["--data-binary", "@\(chunk)", "\(base)/api/uploads/\(id)"], token: token)
    }

    /// tuspy uploads `file` (or resumes `url`); returns the upload URL it printed.
    static func tuspy(_ base: String, token: String, file: String, fields: [String: String] = [:], chunk: Int, checksum: Bool = false,
                      url: String? = nil) throws -> String {
        var args = [tusScript, "\(base)/api/uploads/", token, file, "--chunk", String(chunk),
                    "--metadata", String(decoding: try JSONSerialization.data(withJSONObject: fields), as: UTF8.self)]
        if checksum { args.append("--checksum") }
        if let url { args += ["--url", url] }
        let r = try Shell.run("python3", args)
        #expect(r.status == 0, "tuspy: \(r.stderr.suffix(3000))")
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Starts a PATCH of `bytes.count` bytes at `offset` but sends only the first `send` of them; the connection stays
    /// open until the caller drops it (then the server sees the body end early).
    static func partialPatch(port: Int, id: String, token: String, offset: Int, bytes: ArraySlice<UInt8>, send: Int,
                             headers: String = "") throws -> RawConnection {
        let c = try RawConnection(port: port)
        c.send("PATCH /api/uploads/\(id) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\nTus-Resumable: 1.0.0\r\n"
               + "Upload-Offset: \(offset)\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: \(bytes.count)\r\n\(headers)\r\n")
        c.send(bytes: bytes.prefix(send))
        return c
    }

    static func poll(_ what: String, timeout: Double = 20, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return }
            usleep(50_000)
        }
        Issue.record("timed out waiting for \(what)")
    }

    static func uploadsEntries(_ d: DaemonHarness) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: d.inbox + "/uploads")) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    static func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? -1
    }

    @Test func theOfficialTusClientUploadsAVideoInChecksummedChunksAndItEndsReady() throws {
        let media = try MediaFactory()
        let video = try media.h264AAC(seconds: 4, name: "talk.mp4")
        let rig = try ReceiverRig()
        defer { rig.d.cleanUp() }
        let sha = try Self.sha256(video)
        let url = try Self.tuspy(rig.d.baseURL, token: rig.uploader, file: video,
                                 fields: ["title": "Chunked talk", "filename": "talk.mp4", "visibility": "published", "sha256": sha],
                                 chunk: 32 * 1024, checksum: true)
        let id = try #require(url.split(separator: "/").last.map(String.init))
        #expect(url.hasPrefix("\(rig.d.baseURL)/api/uploads/"), "\(url)")
        let status = try rig.d.waitFor(id)
        #expect(status["status"] as? String == "ready", "\(status)")
        #expect(try rig.d.sql("SELECT title, visibility, source, username, size_bytes FROM videos WHERE video_id = '\(id)'")
                == "Chunked talk|published|http|uploader|\(Self.fileSize(video))")
        #expect(try rig.d.sql("SELECT state, upload_offset, upload_length, media_name FROM uploads WHERE video_id = '\(id)'")
                == "complete|\(Self.fileSize(video))|\(Self.fileSize(video))|\(id).mp4")
        #expect(try rig.d.sql("SELECT COUNT(*) FROM events WHERE video_id = '\(id)' AND status = 'ready'") == "1")
        #expect(try rig.d.sql("SELECT COUNT(*) FROM videos") == "1", "one row: the claim adopted the upload's")
        #expect(try rig.d.sql("SELECT phase FROM events WHERE video_id = '\(id)' ORDER BY id LIMIT 1") == "receiving")
        #expect(Self.uploadsEntries(rig.d).isEmpty && rig.incomingEntries.isEmpty, "\(Self.uploadsEntries(rig.d)) \(rig.incomingEntries)")
        try rig.d.waitForLog("Video upload accepted for background processing: \(id)")
        // A finished upload still answers HEAD (offset = length), so a client that lost the last 204 sees it done.
        let head = try Self.head(rig.d.baseURL, id, token: rig.uploader)
        #expect(head.status == 200 && head.headers["upload-offset"] == String(Self.fileSize(video)), "\(head)")
    }

    @Test func aPatchCutHalfwayResumesFromHeadToByteIdenticalMediaReadyOnce() throws {
        let media = try MediaFactory()
        let video = try media.h264AAC(seconds: 6, width: 640, height: 360, name: "cut.mp4")
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: video)))
        let rig = try ReceiverRig()
        defer { rig.d.cleanUp() }
        let base = rig.d.baseURL
        let created = try Self.create(base, token: rig.uploader, length: bytes.count,
                                      fields: ["title": "Cut talk", "filename": "cut.mp4", "sha256": try Self.sha256(video)])
        #expect(created.status == 201, "\(created)")
        let location = try #require(created.headers["location"])
        let id = try #require(location.split(separator: "/").last.map(String.init))
        #expect(created.headers["x-video-id"] == id && created.headers["tus-resumable"] == "1.0.0")
        #expect(created.headers["upload-expires"]?.hasSuffix(" GMT") == true, "\(created.headers)")
        let accepted = (try? JSONSerialization.jsonObject(with: Data(created.body.utf8))) as? [String: Any]
        #expect(accepted?["video_id"] as? String == id && accepted?["status"] as? String == "processing", "\(created.body)")

        // The job exists from creation: status, list and stream show it receiving.
        let status = try rig.d.status(id).json ?? [:]
        #expect(status["status"] as? String == "processing" && status["phase"] as? String == "receiving", "\(status)")
        let list = try HTTPClient.get("\(base)/api/videos?status=processing", headers: ["Authorization: Bearer \(rig.admin)"])
        #expect(list.body.contains(id) && list.body.contains("\"receiving\""), "\(list.body)")
        let stream = try Shell.run("curl", ["-sS", "-N", "--max-time", "1", "\(base)/api/videos/\(id)/stream"])
        #expect(stream.stdout.contains("event: status") && stream.stdout.contains("\"phase\":\"receiving\""), "\(stream.stdout)")

        let half = bytes.count / 2
        do {
            let cut = try Self.partialPatch(port: rig.d.port, id: id, token: rig.uploader, offset: 0, bytes: bytes[...], send: half)
            _ = cut  // dropped here: the client closes mid-body
        }
        var offset = -1
        try Self.poll("HEAD to report the bytes that arrived") {
            let h = try Self.head(base, id, token: rig.uploader)
            offset = Int(h.headers["upload-offset"] ?? "") ?? -1
            return h.status == 200 && offset == half
        }
        #expect(offset == half, "the cut PATCH kept exactly the bytes that arrived")
        #expect(Self.fileSize(rig.d.inbox + "/uploads/\(id)/data") == half)
        let progress = try rig.d.status(id).json?["progress"] as? Double ?? -1
        #expect(abs(progress - Double(half) / Double(bytes.count)) < 0.01, "progress = offset / length: \(progress)")

        _ = try Self.tuspy(base, token: rig.uploader, file: video, chunk: 256 * 1024, url: "\(base)/api/uploads/\(id)")
        let done = try rig.d.waitFor(id)
        // The sidecar's sha256 is checked against the media before conversion: ready means byte-identical.
        #expect(done["status"] as? String == "ready", "\(done)")
        #expect(try rig.d.sql("SELECT size_bytes FROM videos WHERE video_id = '\(id)'") == String(bytes.count))
        #expect(try rig.d.sql("SELECT COUNT(*) FROM events WHERE video_id = '\(id)' AND status = 'ready'") == "1")
    }

    @Test func aDaemonKilledMidUploadLosesNoAcknowledgedByteAndTheUploadResumesAfterARestart() throws {
        let media = try MediaFactory()
        let video = try media.h264AAC(seconds: 20, width: 640, height: 360, name: "kill.mp4")
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: video)))
        #expect(bytes.count > 4 << 20, "the test needs chunks larger than the receiver's 1 MiB write batch")
        let rig = try ReceiverRig()
        defer { rig.d.cleanUp() }
        let base = rig.d.baseURL
        let scratch = try TempDir("tus-kill")
        defer { scratch.remove() }
        let created = try Self.create(base, token: rig.uploader, length: bytes.count, fields: ["title": "Killed", "sha256": try Self.sha256(video)])
        let id = try #require(created.headers["x-video-id"], "\(created)")
        let acked = bytes.count / 4
        let first = try Self.patch(base, id, token: rig.uploader, offset: 0, bytes: bytes[..<acked], dir: scratch)
        #expect(first.status == 204 && first.headers["upload-offset"] == String(acked), "\(first)")

        // A second PATCH is streaming when the daemon dies.
        let data = rig.d.inbox + "/uploads/\(id)/data"
        let streaming = try Self.partialPatch(port: rig.d.port, id: id, token: rig.uploader, offset: acked, bytes: bytes[acked...],
                                              send: (3 << 20) / 2)
        try Self.poll("the streaming PATCH to reach the disk") { Self.fileSize(data) > acked }
        rig.d.kill9()
        _ = streaming

        try rig.d.start()
        #expect(try rig.d.sql("SELECT status, phase FROM videos WHERE video_id = '\(id)'") == "processing|receiving")
        let head = try Self.head(base, id, token: rig.uploader)
        let offset = Int(head.headers["upload-offset"] ?? "") ?? -1
        #expect(head.status == 200 && offset >= acked + (1 << 20) && offset < bytes.count, "acknowledged (and written) bytes kept: \(head)")

        // Killed again during a chunk with Upload-Checksum: its bytes reached the disk, but never verified, so the
        // restart cuts them away and HEAD reports the offset before that chunk.
        let rest = bytes[offset...]
        let digest = Data(repeating: 0, count: 32).base64EncodedString()  // never reached: the body is cut
        let checksummed = try Self.partialPatch(port: rig.d.port, id: id, token: rig.uploader, offset: offset, bytes: rest,
                                                send: min(rest.count - 1, (3 << 20) / 2), headers: "Upload-Checksum: sha256 \(digest)\r\n")
        try Self.poll("the checksummed PATCH to reach the disk") { Self.fileSize(data) > offset }
        rig.d.kill9()
        _ = checksummed
        try rig.d.start()
        let afterChecksum = try Self.head(base, id, token: rig.uploader)
        #expect(afterChecksum.headers["upload-offset"] == String(offset), "an unverified chunk counts for nothing: \(afterChecksum)")
        try Self.poll("the sweeper to cut the unverified bytes away") { Self.fileSize(data) == offset }

        _ = try Self.tuspy(base, token: rig.uploader, file: video, chunk: 1 << 20, url: "\(base)/api/uploads/\(id)")
        let done = try rig.d.waitFor(id)
        #expect(done["status"] as? String == "ready", "sha256 verified, so the media is byte-identical: \(done)")
        #expect(try rig.d.sql("SELECT COUNT(*) FROM events WHERE video_id = '\(id)' AND status = 'ready'") == "1")
    }

    @Test func everyRefusalHasItsCodeAndLosesNothing() throws {
        let rig = try ReceiverRig(extraTOML: "max_upload_bytes = 1000000")
        defer { rig.d.cleanUp() }
        let base = rig.d.baseURL
        let scratch = try TempDir("tus-errors")
        defer { scratch.remove() }
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let fields = ["title": "Refusals", "filename": "r.mp4"]

        let options = try Self.tus(["-X", "OPTIONS", "\(base)/api/uploads/"], token: nil, tusHeader: false)
        #expect(options.status == 204 && options.headers["tus-version"] == "1.0.0" && options.headers["tus-max-size"] == "1000000", "\(options)")
        #expect(options.headers["tus-extension"] == "creation,creation-with-upload,termination,expiration,checksum")
        #expect(options.headers["tus-checksum-algorithm"] == "sha1,sha256")

        #expect(try Self.create(base, token: nil, length: 10, fields: fields).status == 401)
        #expect(try Self.create(base, token: "0" + String(repeating: "a", count: 63), length: 10, fields: fields).status == 401)
        #expect(try Self.create(base, token: rig.viewer, length: 10, fields: fields).status == 403)
        let noVersion = try Self.tus(["-X", "POST", "-H", "Upload-Length: 10", "\(base)/api/uploads/"], token: rig.uploader, tusHeader: false)
        #expect(noVersion.status == 412 && noVersion.headers["tus-version"] == "1.0.0", "\(noVersion)")
        let tooLarge = try Self.create(base, token: rig.uploader, length: 1_000_001, fields: fields)
        #expect(tooLarge.status == 413 && tooLarge.body.contains("max_upload_bytes"), "\(tooLarge)")
        #expect(try Self.create(base, token: rig.uploader, length: 10, fields: ["filename": ".", "title": " "]).status == 400)
        let badMeta = try Self.tus(["-X", "POST", "-H", "Upload-Length: 10", "-H", "Upload-Metadata: title !!notbase64", "\(base)/api/uploads/"],
                                   token: rig.uploader)
        #expect(badMeta.status == 400 && badMeta.body.contains("base64"), "\(badMeta)")
        let badType = try Self.create(base, token: rig.uploader, length: 10, fields: ["title": "x", "filetype": "text/plain"])
        #expect(badType.status == 415, "\(badType)")
        #expect(try Self.create(base, token: rig.uploader, length: -1, fields: fields).status == 400)
        let deferred = try Self.tus(["-X", "POST", "-H", "Upload-Defer-Length: 1", "\(base)/api/uploads/"], token: rig.uploader)
        #expect(deferred.status == 400, "\(deferred)")
        #expect(try rig.rowCount() == 0 && Self.uploadsEntries(rig.d).isEmpty, "refused creations leave nothing")

        let created = try Self.create(base, token: rig.uploader, length: bytes.count, fields: fields)
        let id = try #require(created.headers["x-video-id"], "\(created)")
        #expect(try Self.head(base, UUID().uuidString.lowercased(), token: rig.uploader).status == 404)
        let other = try ReceiverRig.addUser(rig.d, "other", ["--upload"])
        #expect(try Self.head(base, id, token: other).status == 403, "another user's upload")
        #expect(try Self.head(base, id, token: rig.admin).status == 200, "an admin sees every upload")

        let wrongOffset = try Self.patch(base, id, token: rig.uploader, offset: 5, bytes: bytes[..<10], dir: scratch)
        #expect(wrongOffset.status == 409 && wrongOffset.body.contains("offset_mismatch"), "\(wrongOffset)")
        let wrongType = try Self.tus(["-X", "PATCH", "-H", "Upload-Offset: 0", "-H", "Content-Type: application/octet-stream",
                                      "--data-binary", "abc", "\(base)/api/uploads/\(id)"], token: rig.uploader)
        #expect(wrongType.status == 415, "\(wrongType)")
        let pastEnd = try Self.patch(base, id, token: rig.uploader, offset: 0, bytes: (bytes + bytes)[...], dir: scratch)
        #expect(pastEnd.status == 413, "\(pastEnd)")
        let badSum = try Self.patch(base, id, token: rig.uploader, offset: 0, bytes: bytes[..<100], dir: scratch,
                                    extra: ["-H", "Upload-Checksum: sha1 \(Data(repeating: 7, count: 20).base64EncodedString())"])
        #expect(badSum.status == 460 && badSum.body.contains("checksum_mismatch"), "\(badSum)")
        let unknownAlgorithm = try Self.patch(base, id, token: rig.uploader, offset: 0, bytes: bytes[..<100], dir: scratch,
                                              extra: ["-H", "Upload-Checksum: md5 AAAA"])
        #expect(unknownAlgorithm.status == 400, "\(unknownAlgorithm)")
        #expect(try Self.head(base, id, token: rig.uploader).headers["upload-offset"] == "0", "nothing appended by refused PATCHes")
        do {
            let cut = try Self.partialPatch(port: rig.d.port, id: id, token: rig.uploader, offset: 0, bytes: bytes[...], send: 500,
                                            headers: "Upload-Checksum: sha1 \(Data(repeating: 7, count: 20).base64EncodedString())\r\n")
            _ = cut  // closed mid-body: a checksummed chunk counts only whole
        }
        try rig.d.waitForLog("upload chunk cut short")
        #expect(try Self.head(base, id, token: rig.uploader).headers["upload-offset"] == "0", "a cut checksummed chunk appends nothing")

        // A good checksum counts; the override header carries a PATCH through a POST-only proxy.
        try Data(bytes[..<100]).write(to: URL(fileURLWithPath: scratch.path + "/first"))
        let sum = try Shell.run("python3", ["-c", "import base64, hashlib, sys; print(base64.b64encode(hashlib.sha256(open(sys.argv[1], 'rb').read()).digest()).decode())",
                                            scratch.path + "/first"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let good = try Self.tus(["-X", "POST", "-H", "X-HTTP-Method-Override: PATCH", "-H", "Upload-Offset: 0",
                                 "-H", "Content-Type: application/offset+octet-stream",
                                 "-H", "Upload-Checksum: sha256 \(sum)",
                                 "--data-binary", "@\(scratch.path)/first", "\(base)/api/uploads/\(id)"], token: rig.uploader)
        #expect(good.status == 204 && good.headers["upload-offset"] == "100", "\(good)")
        let noOverride = try Self.tus(["-X", "POST", "\(base)/api/uploads/\(id)"], token: rig.uploader)
        #expect(noOverride.status == 400 && noOverride.body.contains("X-HTTP-Method-Override"), "\(noOverride)")

        // Two PATCHes at once: the one streaming holds the upload, the other is refused; the first one's bytes count.
        var holder: RawConnection? = try Self.partialPatch(port: rig.d.port, id: id, token: rig.uploader, offset: 100,
                                                           bytes: bytes[100...], send: 300)
        try Self.poll("the first PATCH to hold the upload") {
            let second = try Self.patch(base, id, token: rig.uploader, offset: 100, bytes: bytes[100..<200], dir: scratch)
            return second.status == 423 || second.status == 409
        }
        holder = nil
        _ = holder
        try Self.poll("the first PATCH's bytes to count") {
            try Self.head(base, id, token: rig.uploader).headers["upload-offset"] == "400"
        }

        // Termination removes the partial data and fails the job.
        let terminated = try Self.tus(["-X", "DELETE", "\(base)/api/uploads/\(id)"], token: rig.uploader)
        #expect(terminated.status == 204, "\(terminated)")
        #expect(!FileManager.default.fileExists(atPath: rig.d.inbox + "/uploads/\(id)"))
        #expect(try rig.d.sql("SELECT status, failure_reason FROM videos WHERE video_id = '\(id)'") == "failed|upload_terminated")
        #expect(try rig.d.sql("SELECT state FROM uploads WHERE video_id = '\(id)'") == "terminated")
        #expect(try Self.head(base, id, token: rig.uploader).status == 410)
        #expect(try Self.patch(base, id, token: rig.uploader, offset: 400, bytes: bytes[400...], dir: scratch).status == 410)

        // creation-with-upload: the whole (tiny) file in the POST makes a drop at once.
        try Data(bytes).write(to: URL(fileURLWithPath: scratch.path + "/all"))
        let oneShot = try Self.create(base, token: rig.uploader, length: bytes.count, fields: ["title": "One shot"],
                                      extra: ["-H", "Content-Type: application/offset+octet-stream", "--data-binary", "@\(scratch.path)/all"])
        #expect(oneShot.status == 201 && oneShot.headers["upload-offset"] == String(bytes.count), "\(oneShot)")
        let oneShotID = try #require(oneShot.headers["x-video-id"])
        let badFirst = try Self.create(base, token: rig.uploader, length: bytes.count, fields: ["title": "Bad first chunk"], extra: [
            "-H", "Content-Type: application/offset+octet-stream", "--data-binary", "@\(scratch.path)/all",
            "-H", "Upload-Checksum: sha1 \(Data(repeating: 7, count: 20).base64EncodedString())"])
        #expect(badFirst.status == 460 && badFirst.headers["location"]?.hasPrefix("/api/uploads/") == true, "resumable although refused: \(badFirst)")
        let failed = try rig.d.waitFor(oneShotID)
        #expect(failed["failure_reason"] as? String == "unreadable_media", "random bytes are no video, but they became a drop: \(failed)")

        let full = try ReceiverRig(minFreeBytes: 1 << 62)
        defer { full.d.cleanUp() }
        let noSpace = try Self.create(full.d.baseURL, token: full.uploader, length: 10, fields: fields)
        #expect(noSpace.status == 507 && noSpace.body.contains("min_free_bytes"), "\(noSpace)")
    }

    @Test func anIdleUploadExpiresItsBytesAreRemovedAndItsJobFails() throws {
        let rig = try ReceiverRig(extraTOML: "upload_expiry_hours = 0.0005")
        defer { rig.d.cleanUp() }
        let scratch = try TempDir("tus-expiry")
        defer { scratch.remove() }
        let base = rig.d.baseURL
        let created = try Self.create(base, token: rig.uploader, length: 1000, fields: ["title": "Abandoned"])
        let id = try #require(created.headers["x-video-id"], "\(created)")
        let patched = try Self.patch(base, id, token: rig.uploader, offset: 0, bytes: Array(repeating: 1, count: 100)[...], dir: scratch)
        #expect(patched.status == 204 && patched.headers["upload-expires"] != nil, "\(patched)")
        try Self.poll("the upload to expire") {
            try rig.d.sql("SELECT status FROM videos WHERE video_id = '\(id)'") == "failed"
        }
        #expect(try rig.d.sql("SELECT phase, failure_reason FROM videos WHERE video_id = '\(id)'") == "receiving|upload_expired")
        #expect(try rig.d.sql("SELECT error FROM videos WHERE video_id = '\(id)'").contains("100 of 1000 bytes"))
        #expect(try rig.d.sql("SELECT state FROM uploads WHERE video_id = '\(id)'") == "expired")
        #expect(Self.uploadsEntries(rig.d).isEmpty)
        #expect(try Self.head(base, id, token: rig.uploader).status == 410)
        try rig.d.waitForLog("Background processing failed for video \(id): upload expired")
    }

    @Test func aBrowsersPreflightForTusIsAnsweredWhenCORSIsConfigured() throws {
        let app = "https://app.example"
        let rig = try ReceiverRig(extraTOML: "cors_origins = [\"\(app)\"]")
        defer { rig.d.cleanUp() }
        let base = rig.d.baseURL
        for (path, method) in [("/api/uploads/", "POST"), ("/api/uploads/\(UUID().uuidString.lowercased())", "PATCH"),
                               ("/api/uploads/\(UUID().uuidString.lowercased())", "DELETE"), ("/api/uploads/\(UUID().uuidString.lowercased())", "HEAD")] {
            let p = try CORSTests.preflight(base + path, origin: app, method: method,
                                            headers: "authorization, tus-resumable, upload-length, upload-metadata, upload-offset, upload-checksum, content-type, x-http-method-override")
            #expect(p.status == 204 && p.headers["access-control-allow-origin"] == app, "\(method) \(path): \(p)")
            #expect(p.headers["access-control-allow-methods"]?.contains(method) == true, "\(p.headers)")
            let allowed = p.headers["access-control-allow-headers"]?.lowercased() ?? ""
            for h in ["tus-resumable", "upload-length", "upload-metadata", "upload-offset", "upload-checksum", "x-http-method-override"] {
                #expect(allowed.contains(h), "\(h) not in \(allowed)")
            }
        }
        let created = try Self.create(base, token: rig.uploader, length: 10, fields: ["title": "Browser"], extra: ["-H", "Origin: \(app)"])
        #expect(created.status == 201 && created.headers["access-control-allow-origin"] == app, "\(created)")
        let exposed = created.headers["access-control-expose-headers"]?.lowercased() ?? ""
        for h in ["location", "upload-offset", "upload-length", "upload-expires", "tus-resumable", "x-video-id"] {
            #expect(exposed.contains(h), "\(h) not in \(exposed)")
        }
    }
}
