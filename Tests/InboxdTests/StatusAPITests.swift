import Foundation
import TestSupport
import Testing

/// Clients and admins watch jobs through the read-only status API.
@Suite(.serialized) struct StatusAPITests {
    /// Uploads `src` with curl -F and returns the new video_id.
    static func upload(_ rig: ReceiverRig, _ src: String, title: String) throws -> String {
        let r = try CurlResult.run(["-F", "video=@\(src);type=video/mp4", "-F", "title=\(title)", "\(rig.d.baseURL)/api/videos/"],
                                   token: rig.uploader)
        #expect(r.status == 202, "\(r.body)")
        return try #require(r.json?["video_id"] as? String)
    }

    @Test func anSSEClientSeesProcessingThenEachChangeThenReadyAndTheStreamEnds() throws {
        let media = try MediaFactory()
        let src = try media.vp9Opus(seconds: 8, width: 640, height: 360)  // transcoded: slow enough to watch
        let rig = try ReceiverRig()
        defer { rig.d.cleanUp() }
        let id = try Self.upload(rig, src, title: "Streamed")
        let r = try Shell.run("curl", ["-sS", "-N", "--max-time", "120", "\(rig.d.baseURL)/api/videos/\(id)/stream"])
        #expect(r.status == 0, "stream did not end by itself: \(r.stderr)")
        let events = r.stdout.components(separatedBy: "\n\n").filter { $0.contains("event: status") }
        let states: [[String: Any]] = events.compactMap { e in
            guard let line = e.split(separator: "\n").first(where: { $0.hasPrefix("data: ") }) else { return nil }
            return (try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8))) as? [String: Any]
        }
        let statuses = states.compactMap { $0["status"] as? String }
        #expect(statuses.first == "processing", "\(statuses)")
        #expect(statuses.last == "ready", "\(statuses)")
        #expect(statuses.filter { $0 == "ready" }.count == 1)
        let progress = states.compactMap { $0["progress"] as? Double }
        #expect(progress == progress.sorted(), "progress went backwards: \(progress)")
        #expect(states.allSatisfy { $0["video_id"] as? String == id })
        let ids = events.compactMap { e in e.split(separator: "\n").first(where: { $0.hasPrefix("id: ") }).flatMap { Int($0.dropFirst(4)) } }
        #expect(ids == Array(1...ids.count), "event ids \(ids)")
    }

    @Test func sixtyFourPollersGetNoErrorsWhileJobsRunAndTheStatusCarriesAnETA() throws {
        let media = try MediaFactory()
        let src = try media.vp9Opus(seconds: 12, width: 640, height: 360)
        let rig = try ReceiverRig()
        defer { rig.d.cleanUp() }
        let ids = try (0..<3).map { try Self.upload(rig, src, title: "Load \($0)") }
        let urls = (0..<25).flatMap { ["-o", "/dev/null", "\(rig.d.baseURL)/api/videos/\(ids[$0 % ids.count])/status"] }
        let running = try rig.d.sql("SELECT COUNT(*) FROM videos WHERE status = 'processing'")
        #expect(running != "0", "the jobs ended before the pollers started; the test no longer loads a busy daemon")
        let codes = Mutex64()
        DispatchQueue.concurrentPerform(iterations: 64) { _ in
            let r = try? Shell.run("curl", ["-sS", "--max-time", "60", "-w", "%{http_code}\n"] + urls)
            codes.add(r?.stdout.split(separator: "\n").map(String.init) ?? ["curl failed: \(r?.stderr ?? "?")"])
        }
        let all = codes.values
        #expect(all.count == 64 * 25)
        #expect(all.allSatisfy { $0 == "200" }, "\(Dictionary(grouping: all, by: { $0 }).mapValues(\.count))")
        let st = try #require(rig.d.status(ids[0]).json)
        #expect(st.keys.contains("eta_s"))
        for id in ids {
            let done = try rig.d.waitFor(id)
            #expect(done["status"] as? String == "ready")
            #expect(done["eta_s"] as? Double == 0)
        }
    }

    @Test func adminsListJobsPageByPageWithFilters() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 1)
        let rig = try ReceiverRig(workers: 1)
        defer { rig.d.cleanUp() }
        var ids: [String] = []
        for i in 0..<5 { ids.append(try Self.upload(rig, src, title: "List \(i)")) }
        let base = "\(rig.d.baseURL)/api/videos"

        #expect(try CurlResult.run([base]).status == 401)
        #expect(try CurlResult.run([base], token: rig.uploader).status == 403)
        #expect(try CurlResult.run([base + "?limit=0"], token: rig.admin).status == 400)
        #expect(try CurlResult.run([base + "?status=published"], token: rig.admin).status == 400)
        #expect(try CurlResult.run([base + "?cursor=garbage"], token: rig.admin).status == 400)

        var seen: [String] = []
        var cursor: String?
        var pages = 0
        repeat {
            let r = try CurlResult.run([base + "?limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")], token: rig.admin)
            #expect(r.status == 200, "\(r.body)")
            let json = try #require(r.json)
            let items = try #require(json["items"] as? [[String: Any]])
            #expect(items.count <= 2)
            seen += items.compactMap { $0["video_id"] as? String }
            cursor = json["next_cursor"] as? String
            pages += 1
        } while cursor != nil && pages < 10
        #expect(pages == 3)
        #expect(Set(seen) == Set(ids) && seen.count == 5, "pages repeated or skipped rows: \(seen)")
        let rows = try rig.d.sql("SELECT video_id FROM videos ORDER BY created_at, video_id").split(separator: "\n").map(String.init)
        #expect(seen == rows, "not in (created_at, video_id) order")

        for id in ids { _ = try rig.d.waitFor(id) }
        let ready = try #require(CurlResult.run([base + "?status=ready&user=uploader&limit=500"], token: rig.admin).json)
        #expect((ready["items"] as? [[String: Any]])?.count == 5)
        #expect(ready["next_cursor"] is NSNull)
        let none = try #require(CurlResult.run([base + "?user=nobody"], token: rig.admin).json)
        #expect((none["items"] as? [[String: Any]])?.isEmpty == true)
    }

    @Test func theAuditLogMetricsAndUnknownRoutesAnswerJSON() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 2)
        let rig = try ReceiverRig()
        defer { rig.d.cleanUp() }
        let id = try Self.upload(rig, src, title: "Audited")
        _ = try rig.d.waitFor(id)

        let events = try #require(HTTPClient.get("\(rig.d.baseURL)/api/videos/\(id)/events").json)
        let list = try #require(events["events"] as? [[String: Any]])
        #expect(list.first?["message"] as? String == "accepted by the HTTP receiver")
        #expect(list.last?["status"] as? String == "ready")
        #expect(try HTTPClient.get("\(rig.d.baseURL)/api/videos/\(UUID().uuidString)/events").status == 404)
        #expect(try HTTPClient.get("\(rig.d.baseURL)/api/videos/bad%20id/events").status == 400)

        let metrics = try HTTPClient.get("\(rig.d.baseURL)/metrics")
        #expect(metrics.status == 200)
        for line in [#"inboxd_jobs{status="ready"} 1"#, #"inboxd_queue_depth 0"#, #"inboxd_upload_bytes_total"#,
                     #"inboxd_http_requests_total{method="POST",route="/api/videos",code="202"} 1"#,
                     #"inboxd_phase_duration_seconds_count{phase="queued"}"#, #"inboxd_jobs_failed{phase="converting"} 0"#] {
            #expect(metrics.body.contains(line), "metrics lack \(line):\n\(metrics.body)")
        }

        let unknown = try HTTPClient.get("\(rig.d.baseURL)/no/such/route")
        #expect(unknown.status == 404 && unknown.json?["error"] as? String == "not_found", "\(unknown.body)")
        let wrongMethod = try HTTPClient.request(["-X", "DELETE", "\(rig.d.baseURL)/api/videos/\(id)"])
        #expect(wrongMethod.status == 405 && wrongMethod.json?["error"] as? String == "method_not_allowed", "\(wrongMethod.body)")
    }

    /// schemathesis (PyPI, installed by scripts/bootstrap) fuzzes every route of /openapi.json against a live daemon.
    @Test func theLiveAPIConformsToItsOpenAPIDescription() throws {
        let st = try Shell.which("st")
        let config = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("schemathesis.toml").path
        let rig = try ReceiverRig()
        defer { rig.d.cleanUp() }
        // Every check (schemathesis' default); -w 1 because hypothesis' lambda introspection is not thread-safe.
        let r = try Shell.run(st, [
            "--config-file", config, "run", "\(rig.d.baseURL)/openapi.json",
            "-H", "Authorization: Bearer \(rig.admin)", "--max-examples", "25", "--seed", "1", "--request-timeout", "20",
            "--phases", "examples,coverage,fuzzing", "-w", "1",
        ], environment: ProcessInfo.processInfo.environment.merging([
            "NO_COLOR": "1",
            "SCHEMATHESIS_HOOKS": URL(fileURLWithPath: config).deletingLastPathComponent().appendingPathComponent("schemathesis_hooks.py").path,
        ]) { $1 })
        #expect(r.status == 0, "schemathesis found violations:\n\(r.stdout.suffix(12000))\n\(r.stderr.suffix(2000))")
    }
}

final class Mutex64: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func add(_ more: [String]) { lock.withLock { items += more } }
    var values: [String] { lock.withLock { items } }
}
