import Foundation
import TestSupport
import Testing

/// A burst of drops renamed into the inbox at once is claimed in batches (one db transaction per batch), each drop
/// exactly once, none lost; a duplicate `video_id` inside a batch still fails alone.
@Suite(.serialized) struct ClaimBurstTests {
    @Test func aBurstOfDropsIsClaimedInBatchesEachExactlyOnce() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 1)
        var options = DaemonHarness.Options()
        options.workers = 1
        options.settleSeconds = 0.5
        let d = try DaemonHarness(options)
        defer { d.cleanUp() }
        // Staged beside the inbox, then renamed in as fast as possible, as a producer's atomic drops arrive.
        let staging = d.inbox + "/.staging"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        let n = 400
        for i in 0..<n {
            try FileManager.default.copyItem(atPath: src, toPath: "\(staging)/b\(i).mp4")
            var sidecar: [String: Any] = ["title": "burst \(i)"]
            if i == 7 || i == 8 { sidecar["video_id"] = "0b9e1f2c-3d4e-4f50-8a6b-7c8d9e0f1a2b" }  // the same id twice in one burst
            try d.writeSidecar(sidecar, to: "\(staging)/b\(i).mp4.json")
        }
        try d.start()
        for i in 0..<n {
            #expect(rename("\(staging)/b\(i).mp4", "\(d.incoming)/b\(i).mp4") == 0)
            #expect(rename("\(staging)/b\(i).mp4.json", "\(d.incoming)/b\(i).mp4.json") == 0)
        }
        _ = try eventually(timeout: 120, "every drop recorded") { () -> Bool? in
            (try? d.sql("SELECT count(*) FROM videos")) == "\(n)" ? true : nil
        }
        #expect(try d.sql("SELECT count(DISTINCT title) FROM videos") == "\(n)", "each drop exactly once")
        #expect(try d.sql("SELECT count(*) FROM events WHERE message = 'claimed'") == "\(n - 1)", "one claim event per claimed drop")
        let dup = try d.sql("SELECT count(*) FROM videos WHERE failure_reason = 'duplicate_id'")
        // The second drop naming the id either waits for the first job's directory (then fails as a duplicate of
        // the finished row) or meets the row in the same batch: either way exactly one of the two fails.
        #expect(dup == "1", "one of the two drops naming the same id fails as a duplicate")
        #expect(try d.sql("SELECT count(*) FROM videos WHERE video_id = '0b9e1f2c-3d4e-4f50-8a6b-7c8d9e0f1a2b'") == "1")

        let batches = d.logText().split(separator: "\n").filter { $0.contains("claims recorded") }.compactMap { line -> Int? in
            guard let r = line.range(of: "claim.count=") else { return nil }
            return Int(line[r.upperBound...].prefix { $0.isNumber })
        }
        #expect(batches.reduce(0, +) >= n - 1, "batches \(batches)")
        #expect((batches.max() ?? 0) > 1, "claims were recorded one by one: \(batches)")
        #expect((batches.max() ?? 0) <= 256, "a batch larger than the cap: \(batches)")
        #expect(Check.entries(d.incoming).isEmpty, "left in incoming/: \(Check.entries(d.incoming).prefix(5))")
    }
}
