import Foundation
import TestSupport
import Testing

/// Uploaders talk to inboxd's HTTP receiver with curl, as they did to the old web app.
@Suite(.serialized) struct ReceiverTests {
    static let acceptedKeys: Set<String> = ["video_id", "title", "description", "status", "video_url", "thumbnail_url",
                                             "created_at", "user_id", "username"]

    @Test func aFormUploadWaitingFor100ContinueIsAcceptedPollableAtOnceAndBecomesReady() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 4)
        let thumb = try media.png(width: 64, height: 48)
        let rig = try ReceiverRig()
        defer { rig.d.cleanUp() }

        let r = try CurlResult.run([
            "-H", "Expect: 100-continue", "-H", "X-Request-Id: req-form-1",
            "-F", "video=@\(src);type=video/mp4", "-F", "thumbnail=@\(thumb);type=image/png",
            "-F", "title=Conference talk", "-F", "description=Day 1", "-F", "visibility=published",
            "\(rig.d.baseURL)/api/videos/",
        ], token: rig.uploader)
        #expect(r.status == 202, "\(r.body)\n\(r.trace)")
        #expect(r.trace.contains("HTTP/1.1 100 Continue"), "curl never got 100 Continue:\n\(r.trace)")
        #expect(r.trace.lowercased().contains("< x-request-id: req-form-1"))
        let json = try #require(r.json)
        #expect(Set(json.keys) == Self.acceptedKeys)
        #expect(json["status"] as? String == "processing")
        #expect(json["video_url"] as? String == "processing")
        #expect(json["thumbnail_url"] as? String == "processing")
        #expect(json["title"] as? String == "Conference talk")
        #expect(json["description"] as? String == "Day 1")
        #expect(json["username"] as? String == "uploader")
        let id = try #require(json["video_id"] as? String)
        #expect(UUID(uuidString: id) != nil)

        // The row exists before the 202, so the very first poll finds the job.
        let first = try rig.d.status(id)
        #expect(first.status == 200, "\(first.body)")
        #expect(rig.d.logText().contains("Video upload accepted for background processing: \(id)"))
        #expect(rig.d.logText().contains("request.id=req-form-1"))

        let done = try rig.d.waitFor(id)
        #expect(done["status"] as? String == "ready", "\(done)")
        _ = try Check.playable(done, sourcePath: src)
        let row = try #require(HTTPClient.get("\(rig.d.baseURL)/api/videos/\(id)").json)
        #expect(row["source"] as? String == "http")
        #expect(row["visibility"] as? String == "published")
        #expect(row["user_id"] as? String != nil)
        #expect((row["sidecar"] as? String)?.contains("\"thumbnail\":\"\(id).thumbnail.png\"") == true, "\(row)")
        #expect(rig.incomingEntries.isEmpty, "incoming/ keeps \(rig.incomingEntries)")
    }

    @Test func aRawPutWithoutExpectIsAcceptedOnceAndARetryIsAConflict() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 3)
        let rig = try ReceiverRig()
        defer { rig.d.cleanUp() }
        let id = UUID().uuidString.lowercased()
        let url = "\(rig.d.baseURL)/api/videos/\(id)/file?title=Raw%20upload&visibility=private&filename=clip.mp4"

        let r = try CurlResult.run(["-H", "Expect:", "-H", "Content-Type: video/mp4", "-T", src, url], token: rig.uploader)
        #expect(r.status == 202, "\(r.body)")
        #expect(!r.trace.contains("100 Continue"))
        #expect(r.json?["video_id"] as? String == id)
        #expect(r.json?["title"] as? String == "Raw upload")
        #expect(try rig.d.status(id).status == 200)

        let again = try CurlResult.run(["-H", "Content-Type: video/mp4", "-T", src, url], token: rig.uploader)
        #expect(again.status == 409, "\(again.body)")
        let done = try rig.d.waitFor(id)
        #expect(done["status"] as? String == "ready", "\(done)")
        #expect(try rig.rowCount() == 1)
    }

    @Test func aURLIngestRequestBecomesAURLDropThatIsDownloadedClippedAndPublished() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 8, gopSeconds: 1)  // remux clips cut at keyframes
        let rig = try ReceiverRig(extraTOML: "[url_ingest]\nallow = [\"127.0.0.1\"]")
        defer { rig.d.cleanUp() }
        // The daemon's own local-output file server hosts the source.
        try FileManager.default.createDirectory(atPath: rig.d.output, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: src, toPath: rig.d.output + "/source.mp4")
        let body = #"{"url": "\#(rig.d.baseURL)/source.mp4", "title": "From a URL", "description": "clip", "start_s": 2, "duration_s": 3}"#

        let r = try CurlResult.run(["-H", "Content-Type: application/json", "--data-binary", body,
                                    "\(rig.d.baseURL)/api/videos/youtube"], token: rig.uploader)
        #expect(r.status == 202, "\(r.body)")
        #expect(Set(r.json?.keys.map { $0 } ?? []) == Self.acceptedKeys)
        let id = try #require(r.json?["video_id"] as? String)
        let row = try #require(HTTPClient.get("\(rig.d.baseURL)/api/videos/\(id)").json)
        #expect(row["source"] as? String == "url")
        #expect(row["source_url"] as? String == "\(rig.d.baseURL)/source.mp4")
        let done = try rig.d.waitFor(id)
        #expect(done["status"] as? String == "ready", "\(done)")
        let probe = try Check.playable(done)
        // A remuxed clip starts at the keyframe at most 1 s before start_s (stream copy cannot cut elsewhere).
        let duration = probe.durationSeconds ?? -1
        #expect(duration >= 2.9 && duration <= 4.1, "clip of 3 s came out \(duration) s")
    }

    @Test func aNULCharacterInAnUploadsTextIsA400NamingTheFieldOnEveryRoute() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let small = try randomFile(dir, "small.mp4", count: 10_000)
        let rig = try ReceiverRig()
        defer { rig.d.cleanUp() }
        func expectNUL(_ r: CurlResult, field: String, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(r.status == 400, "\(r.body)", sourceLocation: sourceLocation)
            #expect(r.json?["error"] as? String == "bad_request", "\(r.body)", sourceLocation: sourceLocation)
            #expect((r.json?["detail"] as? String ?? "").contains("'\(field)' contains a NUL character"), "\(r.body)",
                    sourceLocation: sourceLocation)
        }
        let nulTitle = dir.path + "/title.txt"
        try Data("cut\u{0}here".utf8).write(to: URL(fileURLWithPath: nulTitle))
        expectNUL(try CurlResult.run(["-F", "video=@\(small);type=video/mp4", "-F", "title=<\(nulTitle)", "\(rig.d.baseURL)/api/videos/"],
                                     token: rig.uploader), field: "title")
        expectNUL(try CurlResult.run(["-H", "Content-Type: video/mp4", "-T", small,
                                      "\(rig.d.baseURL)/api/videos/\(UUID().uuidString)/file?title=ok&description=cut%00here"],
                                     token: rig.uploader), field: "description")
        expectNUL(try CurlResult.run(["-H", "Content-Type: application/json", "--data-binary",
                                      #"{"url": "http://127.0.0.1:9/v.mp4", "title": "cut\u0000here"}"#,
                                      "\(rig.d.baseURL)/api/videos/youtube"], token: rig.uploader), field: "title")
        #expect(try rig.rowCount() == 0)
        #expect(rig.incomingEntries.isEmpty, "\(rig.incomingEntries)")
    }

    @Test func everyRefusalIsJSONWithTheRightCodeAndLeavesNothingBehind() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let small = try randomFile(dir, "small.mp4", count: 200_000)
        let big = try randomFile(dir, "big.mp4", count: 3 << 20)
        let rig = try ReceiverRig(extraTOML: "max_upload_bytes = \(1 << 20)")
        defer { rig.d.cleanUp() }
        let post = "\(rig.d.baseURL)/api/videos/"
        let put = "\(rig.d.baseURL)/api/videos/\(UUID().uuidString)/file?title=x"

        func expectError(_ r: CurlResult, _ code: Int, _ error: String, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(r.status == code, "\(r.body)", sourceLocation: sourceLocation)
            #expect(r.json?["error"] as? String == error, "\(r.body)", sourceLocation: sourceLocation)
            #expect((r.json?["detail"] as? String)?.isEmpty == false, sourceLocation: sourceLocation)
        }
        let form = ["-F", "video=@\(small);type=video/mp4", "-F", "title=T"]

        expectError(try CurlResult.run(form + [post]), 401, "unauthorized")
        expectError(try CurlResult.run(form + [post], token: String(repeating: "0", count: 64)), 401, "unauthorized")
        expectError(try CurlResult.run(form + [post], token: rig.viewer), 403, "forbidden")
        // A refused upload is refused before its body: curl waiting for 100 Continue sends none of it.
        let refused = try CurlResult.run(["-H", "Expect: 100-continue", "-F", "video=@\(big);type=video/mp4", "-F", "title=T", post])
        expectError(refused, 401, "unauthorized")
        #expect(refused.uploaded < 1 << 20, "sent \(refused.uploaded) bytes to a refused upload")

        expectError(try CurlResult.run(["-H", "Content-Type: application/json", "--data-binary", "{}", post], token: rig.uploader),
                    415, "unsupported_media_type")
        expectError(try CurlResult.run(["-F", "video=@\(small);type=text/plain", "-F", "title=T", post], token: rig.uploader),
                    415, "unsupported_media_type")
        expectError(try CurlResult.run(["-H", "Content-Type: text/plain", "-T", small, put], token: rig.uploader),
                    415, "unsupported_media_type")

        let truncated = "--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nT\r\n--XyZ\r\nContent-Disposition: form-data; name=\"video\"; filename=\"a.mp4\"\r\n\r\nabc"
        let malformed = try CurlResult.run(["-H", "Content-Type: multipart/form-data; boundary=XyZ", "--data-binary", truncated, post], token: rig.uploader)
        expectError(malformed, 400, "malformed_multipart")
        #expect((malformed.json?["detail"] as? String)?.contains("closing boundary") == true)
        let noTitle = try CurlResult.run(["-F", "video=@\(small);type=video/mp4", post], token: rig.uploader)
        expectError(noTitle, 400, "bad_request")
        #expect((noTitle.json?["detail"] as? String)?.contains("title") == true)
        let noVideo = try CurlResult.run(["-F", "title=T", post], token: rig.uploader)
        expectError(noVideo, 400, "bad_request")
        #expect((noVideo.json?["detail"] as? String)?.contains("video") == true)
        expectError(try CurlResult.run(["-H", "Content-Type: application/json", "--data-binary", "{\"url\": 5}",
                                        "\(rig.d.baseURL)/api/videos/youtube"], token: rig.uploader), 400, "bad_request")
        expectError(try CurlResult.run(["-H", "Content-Type: video/mp4", "-T", small,
                                        "\(rig.d.baseURL)/api/videos/not-a-uuid/file?title=x"], token: rig.uploader), 400, "bad_request")

        // 413 from Content-Length, before the body …
        let declared = try CurlResult.run(["-H", "Expect: 100-continue", "-F", "video=@\(big);type=video/mp4", "-F", "title=T", post], token: rig.uploader)
        expectError(declared, 413, "too_large")
        #expect(declared.uploaded < 1 << 20, "sent \(declared.uploaded) bytes")
        // … and from a chunked body as soon as it passes the limit.
        let chunkedPut = try Shell.run("sh", ["-c", "cat '\(big)' | curl -sS -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer \(rig.uploader)' -H 'Content-Type: video/mp4' -T - '\(put)'"])
        #expect(chunkedPut.stdout == "413", "chunked PUT got \(chunkedPut.stdout) \(chunkedPut.stderr)")

        #expect(rig.incomingEntries.isEmpty, "incoming/ keeps \(rig.incomingEntries)")
        #expect(try rig.rowCount() == 0)

        // A revoked token stops working at once.
        #expect(try rig.d.cli(["user", "revoke", "uploader"]).status == 0)
        expectError(try CurlResult.run(form + [post], token: rig.uploader), 401, "unauthorized")
        let list = try rig.d.cli(["user", "list"]).stdout
        #expect(list.contains("uploader") && !list.contains(rig.uploader), "tokens are never listed")
    }

    /// A raw client that ignores the early answer and keeps sending: the server closes instead of draining 200 MB.
    @Test func aRefusedClientThatKeepsSendingIsCutOffNotDrained() throws {
        let rig = try ReceiverRig()
        defer { rig.d.cleanUp() }
        let script = """
            import socket, sys
            s = socket.create_connection(("127.0.0.1", \(rig.d.port)))
            total = 200 * 1024 * 1024
            s.sendall(b"PUT /api/videos/\(UUID().uuidString)/file?title=x HTTP/1.1\\r\\nHost: x\\r\\n"
                      b"Content-Type: video/mp4\\r\\nContent-Length: %d\\r\\n\\r\\n" % total)
            chunk, sent = b"\\0" * 65536, 0
            try:
                while sent < total:
                    sent += s.send(chunk)
            except OSError:
                pass
            s.settimeout(5)
            try:
                answer = s.recv(200).split(b"\\r\\n")[0].decode()
            except OSError:
                answer = "none"
            print(sent, answer)
            """
        let r = try Shell.run("python3", ["-c", script])
        let parts = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ", maxSplits: 1)
        let sent = Int(parts.first ?? "") ?? -1
        #expect(sent >= 0 && sent < 100 << 20, "server read \(sent) bytes of a refused body: \(r.stdout) \(r.stderr)")
        #expect(rig.incomingEntries.isEmpty)
    }

    @Test func aFullInboxFilesystemIs507() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 1)
        let rig = try ReceiverRig(minFreeBytes: Int64(1) << 60)
        defer { rig.d.cleanUp() }
        let r = try CurlResult.run(["-F", "video=@\(src);type=video/mp4", "-F", "title=T", "\(rig.d.baseURL)/api/videos/"], token: rig.uploader)
        #expect(r.status == 507, "\(r.body)")
        #expect(r.json?["error"] as? String == "insufficient_storage")
        #expect(rig.incomingEntries.isEmpty)
    }

    @Test func aClientThatDisconnectsMidUploadLeavesNoFileAndNoRow() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let big = try randomFile(dir, "big.mp4", count: 8 << 20)
        let rig = try ReceiverRig()
        defer { rig.d.cleanUp() }
        for args in [["-F", "video=@\(big);type=video/mp4", "-F", "title=T", "\(rig.d.baseURL)/api/videos/"],
                     ["-H", "Content-Type: video/mp4", "-T", big, "\(rig.d.baseURL)/api/videos/\(UUID().uuidString)/file?title=T"]] {
            // ~2 MiB/s for 1 s: curl gives up a quarter of the way through the body.
            let r = try CurlResult.run(["--limit-rate", "2M"] + args, token: rig.uploader, maxTime: 1)
            #expect(r.status == 0 || r.status == 100, "upload was not cut: \(r.status) \(r.body)")
            let leftovers = try eventually(timeout: 10, "the partial upload to be removed") { () -> [String]? in
                rig.incomingEntries.isEmpty ? [] : nil
            }
            #expect(leftovers.isEmpty)
        }
        #expect(try rig.rowCount() == 0)
        #expect(rig.d.isRunning)
    }
}
