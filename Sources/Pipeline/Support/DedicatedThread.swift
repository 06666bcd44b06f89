import Foundation

/// Runs blocking C work (libav, curl_easy_perform) on a thread of its own, never on Swift's cooperative pool,
/// whose few threads must stay free for HTTP and the watcher.
public enum DedicatedThread {
    public static func run<T: Sendable>(
        name: String, _ body: @escaping @Sendable () throws -> T
    ) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            let thread = Thread {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
            thread.name = name
            thread.stackSize = 4 << 20
            thread.start()
        }
    }
}
