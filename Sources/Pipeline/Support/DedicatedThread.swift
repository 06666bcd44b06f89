import CInboxd
import Foundation

/// Scheduling priority for the threads that run CPU-heavy conversion (`convert_nice`, `convert_policy`), so
/// HTTP and the watcher stay responsive while every core is busy encoding.
public struct ThreadPriority: Sendable, Equatable {
    /// Added niceness (0…19); 0 leaves it.
    public var nice: Int32
    public var policy: Policy

    /// The Linux scheduling class (`sched(7)`).
    public enum Policy: String, Sendable, CaseIterable {
        /// `SCHED_OTHER`, weighted by `nice`.
        case normal
        /// `SCHED_BATCH`: treated as CPU-bound, never preempts an interactive thread on wake-up.
        case batch
        /// `SCHED_IDLE`: runs only on CPU time no other thread wants (below nice 19; `nice` no longer matters).
        case idle

        var code: Int32 { switch self { case .normal: 0; case .batch: 1; case .idle: 2 } }
    }

    public init(nice: Int32 = 0, policy: Policy = .normal) {
        self.nice = nice
        self.policy = policy
    }

    public static let normal = ThreadPriority()
    public var isNormal: Bool { nice == 0 && policy == .normal }
}

/// Runs blocking C work (libav, curl_easy_perform) on a thread of its own, never on Swift's cooperative pool,
/// whose few threads must stay free for HTTP and the watcher.
public enum DedicatedThread {
    /// With a lowered `priority`, `body` runs on a second thread that lowers itself first (threads libav and x264
    /// create from it inherit the priority); the outer thread, at normal priority, resumes the caller. A lowered
    /// thread never resumes a continuation itself: the cooperative pool may create its worker threads from the
    /// thread that enqueues, and those would inherit the lowered priority for the daemon's lifetime.
    public static func run<T: Sendable>(
        name: String, priority: ThreadPriority = .normal, _ body: @escaping @Sendable () throws -> T
    ) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            let thread = Thread {
                // The waiting thread keeps normal priority and a name of its own, so `name` marks lowered threads only.
                inboxd_set_thread_name(priority.isNormal ? name : "inboxd-resume")
                guard !priority.isNormal else {
                    do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
                    return
                }
                let outcome = Outcome<T>()
                let done = DispatchSemaphore(value: 0)
                let worker = Thread {
                    inboxd_set_thread_name(name)
                    // A refused change (a seccomp filter, say) leaves the thread at normal priority: still correct.
                    _ = inboxd_lower_thread_priority(priority.nice, priority.policy.code)
                    do { outcome.value = .success(try body()) } catch { outcome.value = .failure(error) }
                    done.signal()
                }
                worker.name = name
                worker.stackSize = 4 << 20
                worker.start()
                done.wait()
                continuation.resume(with: outcome.value!)
            }
            thread.name = name
            thread.stackSize = 4 << 20
            thread.start()
        }
    }

    /// Hand-off from the worker to the outer thread; the semaphore orders the write before the read.
    private final class Outcome<T>: @unchecked Sendable {
        var value: Result<T, Error>?
    }
}

/// A thread that a blocking step starts and joins itself, such as one encoder of a bitrate ladder. It takes the
/// starting thread's name, so `ThreadCPU` counts its CPU with the step's (`ixcpu-…`), and its priority: Linux
/// threads inherit niceness and the scheduling class from the thread that creates them (`convert_nice`).
public final class JoinedThread: Sendable {
    private let done = DispatchSemaphore(value: 0)

    public init(_ body: @escaping @Sendable () -> Void) {
        var buffer = [CChar](repeating: 0, count: 16)
        let name = inboxd_get_thread_name(&buffer, buffer.count) == 0
            ? buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } : "inboxd-worker"
        let thread = Thread { [done] in
            _ = inboxd_set_thread_name(name)
            body()
            done.signal()
        }
        thread.stackSize = 4 << 20
        thread.start()
    }

    /// Waits until the body has returned.
    public func join() { done.wait() }
}
