import CInboxd
import Foundation
import Synchronization

/// CPU seconds of blocking libav work, for a job's analytics (`videos.cpu_s`).
///
/// What the number covers: the dedicated thread that ran `body` (`getrusage(RUSAGE_THREAD)`, exact) plus the
/// worker threads libav and its codecs (x264, frame/slice threads) start from it. Those inherit the dedicated
/// thread's name, which is made unique per run, so they are found in `/proc/self/task/*/stat` and sampled every
/// 100 ms; a helper thread's CPU after its last sample (at most 100 ms of it) is missed, so the total is a lower
/// bound, exact when libav starts no threads (a remux). Work of other jobs running at the same time is never
/// counted, unlike a process-wide `RUSAGE_SELF` delta.
public enum ThreadCPU {
    private static let counter = Atomic<UInt32>(0)

    /// Runs `body` on a dedicated thread (as `DedicatedThread.run`, at `priority`) and returns its result with the
    /// CPU seconds. While `body` runs, its thread and the helpers it starts carry the tag `ixcpu-<hex>` as their name.
    public static func run<T: Sendable>(name: String, priority: ThreadPriority = .normal,
                                        _ body: @escaping @Sendable () throws -> T) async throws -> (T, Double) {
        let tag = String(format: "ixcpu-%05x", counter.add(1, ordering: .relaxed).newValue & 0xFFFFF)
        return try await DedicatedThread.run(name: name, priority: priority) {
            let sampler = HelperSampler(tag: tag, excluding: currentTID())
            sampler.start()  // before the rename: the sampler must not carry the tag itself
            _ = inboxd_set_thread_name(tag)
            defer { _ = inboxd_set_thread_name(name) }
            let before = threadSeconds()
            let result: T
            do { result = try body() } catch {
                sampler.stop()
                throw error
            }
            let own = threadSeconds() - before
            return (result, own + sampler.stop())
        }
    }

    /// `getrusage(RUSAGE_THREAD)`: user + system seconds of the calling thread.
    static func threadSeconds() -> Double { max(inboxd_thread_cpu_seconds(), 0) }

    static func currentTID() -> Int32 { inboxd_gettid() }

    /// utime + stime in seconds of every thread of this process named `tag`, by thread id.
    static func tasks(named tag: String) -> [Int32: Double] {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var out: [Int32: Double] = [:]
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") else { return out }
        for name in names {
            guard let tid = Int32(name),
                  let stat = try? String(contentsOfFile: "/proc/self/task/\(name)/stat", encoding: .utf8),
                  let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")"),
                  stat[stat.index(after: open)..<close] == tag else { continue }
            // Fields after the name: state is field 3, utime 14 and stime 15 (proc(5)).
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { continue }
            out[tid] = (user + system) / ticks
        }
        return out
    }
}

/// Samples the CPU of the threads named `tag` (other than `excluding`) until stopped; keeps each thread's last value.
private final class HelperSampler: Sendable {
    private let tag: String
    private let excluding: Int32
    private let seen = Mutex<[Int32: Double]>([:])
    private let done = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    init(tag: String, excluding: Int32) {
        self.tag = tag
        self.excluding = excluding
    }

    func start() {
        let thread = Thread { [self] in
            while !done.load(ordering: .relaxed) {
                sample()
                Thread.sleep(forTimeInterval: 0.1)
            }
            finished.signal()
        }
        thread.name = "inboxd-cpu"
        thread.start()
    }

    private func sample() {
        let now = ThreadCPU.tasks(named: tag)
        seen.withLock { seen in
            for (tid, seconds) in now where tid != excluding { seen[tid] = max(seen[tid] ?? 0, seconds) }
        }
    }

    /// Takes a last sample and returns the helpers' total.
    @discardableResult
    func stop() -> Double {
        done.store(true, ordering: .relaxed)
        finished.wait()
        sample()
        return seen.withLock { $0.values.reduce(0, +) }
    }
}
