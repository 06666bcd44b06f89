import Synchronization

/// The facts `READY=1` waits for: the HTTP server listens and the watcher holds its inotify watches.
final class ReadinessFlags: Sendable {
    private let listening = Atomic<Bool>(false)
    private let watching = Atomic<Bool>(false)

    func httpListening() { listening.store(true, ordering: .relaxed) }
    func watcherWatching() { watching.store(true, ordering: .relaxed) }
    var isReady: Bool { listening.load(ordering: .relaxed) && watching.load(ordering: .relaxed) }
}
