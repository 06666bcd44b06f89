import Foundation
import TestSupport
import Testing

/// Per-job analytics recorded in the db, and the reports over them: `GET /api/stats` (admins), `inboxd stats`, and
/// the CPU and speed histograms on `/metrics`.
@Suite(.serialized) struct StatsTests {
    @Test func finishedJobsCarryTheirAnalyticsAndTheStatsReportsSumThemUp() throws {
        let media = try MediaFactory()
        let transcoded = try media.h264High10(seconds: 3, name: "ten-bit.mp4")  // x264 runs its own threads here
        let remuxed = try media.h264AAC(seconds: 2, width: 160, height: 120, gopSeconds: 1)
        let rig = try ReceiverRig()
        defer { rig.d.cleanUp() }
        let d = rig.d
        try d.drop(media: transcoded, as: "ten.mp4", sidecar: ["title": "ten"])
        try d.drop(media: remuxed, as: "remux.mp4", sidecar: ["title": "remux"])
        try d.drop(media: nil, as: "orphan-bad.mp4", sidecar: ["title": ""])  // fails: blank title
        let ten = try d.videoID(title: "ten"), remux = try d.videoID(title: "remux")
        #expect(try d.waitFor(ten)["status"] as? String == "ready")
        #expect(try d.waitFor(remux)["status"] as? String == "ready")
        _ = try eventually("the bad drop to fail") { try d.sql("SELECT COUNT(*) FROM videos WHERE status = 'failed'") == "1" ? true : nil }

        for id in [ten, remux] {
            let row = try #require(HTTPClient.get("\(d.baseURL)/api/videos/\(id)").json)
            for key in ["queued_s", "probe_s", "convert_s", "upload_s", "cpu_s", "speed_factor"] {
                #expect(((row[key] as? Double) ?? -1) >= 0, "\(key) of \(row["title"] ?? id): \(row[key] ?? "nil")")
            }
            #expect(row["download_s"] is NSNull, "no download phase for a file drop")
            #expect((row["cpu_s"] as? Double ?? 0) > 0)
            #expect((row["speed_factor"] as? Double ?? 0) > 0)
            #expect((row["output_bytes"] as? Int ?? 0) > 0)
        }
        let tenBytes = try FileManager.default.attributesOfItem(atPath: transcoded)[.size] as? Int
        #expect(try d.sql("SELECT input_bytes FROM videos WHERE video_id = '\(ten)'") == tenBytes.map(String.init))

        // The report, as an admin sees it.
        let stats = try HTTPClient.get("\(d.baseURL)/api/stats?since=1h", headers: ["Authorization: Bearer \(rig.admin)"])
        #expect(stats.status == 200, "\(stats.body)")
        let s = try #require(stats.json)
        let jobs = try #require(s["jobs"] as? [String: Any])
        #expect(jobs["ready"] as? Int == 2 && jobs["failed"] as? Int == 1 && jobs["finished"] as? Int == 3, "\(jobs)")
        let converting = try #require((s["phases"] as? [String: Any])?["converting"] as? [String: Any])
        #expect(converting["count"] as? Int == 2 && (converting["p95"] as? Double ?? -1) >= (converting["p50"] as? Double ?? 0))
        #expect((s["cpu_seconds_per_media_minute"] as? Double ?? 0) > 0)
        let failures = try #require(s["failures"] as? [String: Any])
        #expect(((failures["by_reason"] as? [String: Any])?["sidecar"] as? [String: Any])?["count"] as? Int == 1)
        #expect(abs((failures["rate"] as? Double ?? 0) - 1.0 / 3) < 0.001)
        #expect(((s["throughput"] as? [String: Any])?["jobs_per_hour"] as? Double ?? 0) > 0)
        #expect(((s["bytes"] as? [String: Any])?["in"] as? Int ?? 0) > tenBytes ?? 0)

        // Only admins; a bad window is a 400 naming the field.
        #expect(try HTTPClient.get("\(d.baseURL)/api/stats").status == 401)
        #expect(try HTTPClient.get("\(d.baseURL)/api/stats", headers: ["Authorization: Bearer \(rig.uploader)"]).status == 403)
        for (query, field) in [("since=yesterday", "'since'"), ("until=2026-13-45T00:00:00Z", "'until'"),
                               ("since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "must be before")] {
            let bad = try HTTPClient.get("\(d.baseURL)/api/stats?\(query)", headers: ["Authorization: Bearer \(rig.admin)"])
            #expect(bad.status == 400 && bad.json?["error"] as? String == "bad_request", "\(query): \(bad.body)")
            #expect((bad.json?["detail"] as? String ?? "").contains(field), "\(query): \(bad.body)")
        }
        let empty = try #require(HTTPClient.get("\(d.baseURL)/api/stats?since=2020-01-01T00:00:00Z&until=2020-01-02T00:00:00Z",
                                                headers: ["Authorization: Bearer \(rig.admin)"]).json)
        #expect((empty["jobs"] as? [String: Any])?["finished"] as? Int == 0 && empty["cpu_seconds_per_media_minute"] is NSNull)

        // The same report from the command line, read from the db.
        let table = try d.cli(["stats", "--since", "24h"])
        #expect(table.status == 0 && table.stdout.contains("finished:    3 (ready 2, failed 1") && table.stdout.contains("converting"), "\(table.stdout)\(table.stderr)")
        let json = try d.cli(["stats", "--json"])
        #expect(((try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])?["jobs"] as? [String: Any])?["ready"] as? Int == 2)
        let badCLI = try d.cli(["stats", "--since", "soon"])
        #expect(badCLI.status != 0 && badCLI.stderr.contains("'since' must be"), "\(badCLI.stderr)")

        let metrics = try HTTPClient.get("\(d.baseURL)/metrics").body
        #expect(metrics.contains("inboxd_job_cpu_seconds_count 2"), "\(metrics)")
        #expect(metrics.contains("inboxd_job_speed_factor_count 2"))
        #expect(metrics.contains(#"inboxd_job_speed_factor_bucket{le="+Inf"} 2"#))
    }
}
