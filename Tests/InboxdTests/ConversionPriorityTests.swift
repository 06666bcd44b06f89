import Foundation
import TestSupport
import Testing

/// Conversion threads run at the configured lower priority (`convert_nice`, `convert_policy`) while the HTTP
/// event loops and the main thread keep the normal one, and no thread is left lowered once the job is over.
@Suite(.serialized) struct ConversionPriorityTests {
    /// One line of `/proc/<pid>/task/<tid>/stat`.
    struct TaskStat {
        var tid: Int32
        var name: String
        var nice: Int
        var policy: Int

        static func all(pid: Int32) -> [TaskStat] {
            let dir = "/proc/\(pid)/task"
            let tids = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            return tids.compactMap { tid in
                guard let text = try? String(contentsOfFile: "\(dir)/\(tid)/stat", encoding: .utf8),
                      let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")") else { return nil }
                // After "(comm)": field 3 (state) is index 0, so nice (field 19) is 16 and policy (field 41) is 38.
                let fields = text[text.index(after: close)...].split(separator: " ")
                guard fields.count > 38, let nice = Int(fields[16]), let policy = Int(fields[38]), let id = Int32(tid) else { return nil }
                return TaskStat(tid: id, name: String(text[text.index(after: open)..<close]), nice: nice, policy: policy)
            }
        }
    }

    static let schedBatch = 3, schedIdle = 5

    /// A thread of the conversion: the converter's own (`inboxd-hls`), or while it runs, it and the threads libav and
    /// x264 start from it, which carry the per-run CPU-metering tag (`ixcpu-<hex>`, see `ThreadCPU`).
    static func isConversion(_ name: String) -> Bool { name == "inboxd-hls" || name.hasPrefix("ixcpu-") }

    /// A daemon with `toml` converting a VP9 clip (a transcode: x264 starts threads of its own); its pid and the job's id.
    private func converting(_ toml: String, seconds: Double) throws -> (DaemonHarness, pid: Int32, id: String) {
        let media = try MediaFactory()
        let src = try media.vp9Opus(seconds: seconds, width: 640, height: 480)
        var options = DaemonHarness.Options()
        options.workers = 1
        options.convertPolicy = nil
        options.extraTOML = toml
        let d = try DaemonHarness(options)
        do {
            try d.start()
            let pid = try #require(d.pid)
            try withExtendedLifetime(media) { try d.drop(media: src, as: "clip.webm", sidecar: ["title": "clip"]) }
            let id = try d.videoID(title: "clip")
            try waitForPhase(d, id, "converting")
            return (d, pid, id)
        } catch {
            d.cleanUp()
            throw error
        }
    }

    @Test func conversionThreadsRunNicedAndBatchedWhileHTTPThreadsKeepNormalPriority() throws {
        let (d, pid, id) = try converting("convert_nice = 7\nconvert_sched_batch = true\n", seconds: 30)
        defer { d.cleanUp() }
        // The converter's thread and the encoder threads it started are all up once several threads are lowered.
        let during = try eventually(timeout: 60, "lowered conversion threads") { () -> [TaskStat]? in
            let tasks = TaskStat.all(pid: pid)
            return tasks.filter { Self.isConversion($0.name) }.count >= 2 ? tasks : nil
        }
        _ = try d.status(id)  // HTTP answers while the conversion runs
        let converting = during.filter { Self.isConversion($0.name) }
        for t in converting {
            #expect(t.nice == 7 && t.policy == Self.schedBatch, "conversion thread \(t)")
        }
        let loops = during.filter { $0.name.hasPrefix("NIO-") }
        #expect(!loops.isEmpty, "no NIO event loop thread among \(during.map(\.name))")
        for t in loops + during.filter({ $0.tid == pid }) {
            #expect(t.nice <= 0 && t.policy == 0, "HTTP/main thread \(t)")
        }

        let j = try d.waitFor(id, timeout: 240)
        #expect(j["status"] as? String == "ready", "\(j)")
        _ = try d.status(id)
        // libdispatch gives some of its own threads a negative nice; only a raised one is ours.
        let lowered = TaskStat.all(pid: pid).filter { $0.nice > 0 || $0.policy != 0 }
        #expect(lowered.isEmpty, "threads left lowered after the job: \(lowered)")
    }

    /// The default policy is `idle`.
    @Test func byDefaultConversionThreadsRunUnderSchedIdle() throws {
        let (d, pid, _) = try converting("", seconds: 10)
        defer { d.cleanUp() }
        let during = try eventually(timeout: 60, "the conversion thread") { () -> [TaskStat]? in
            let tasks = TaskStat.all(pid: pid)
            return tasks.contains { Self.isConversion($0.name) } ? tasks : nil
        }
        for t in during.filter({ Self.isConversion($0.name) }) { #expect(t.policy == Self.schedIdle, "conversion thread \(t)") }
        for t in during.filter({ $0.name.hasPrefix("NIO-") || $0.tid == pid }) { #expect(t.policy == 0, "HTTP/main thread \(t)") }
    }

    @Test func convertNiceZeroLeavesConversionThreadsAtNormalPriority() throws {
        let (d, pid, id) = try converting("convert_policy = \"normal\"\nconvert_nice = 0\n", seconds: 20)
        defer { d.cleanUp() }
        let converting = try eventually(timeout: 60, "the conversion thread") { () -> [TaskStat]? in
            let hls = TaskStat.all(pid: pid).filter { Self.isConversion($0.name) }
            return hls.isEmpty ? nil : hls
        }
        for t in converting { #expect(t.nice == 0 && t.policy == 0, "\(t)") }
        #expect(try d.waitFor(id, timeout: 240)["status"] as? String == "ready")
    }
}
