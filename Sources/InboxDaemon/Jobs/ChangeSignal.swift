import Synchronization

/// A broadcast wake-up for any number of waiters (the status feeds of one node): `ring()` bumps the mark and wakes
/// every waiter; `wait(since:atMost:)` returns at once when the mark has moved past `since`, else on the next ring or
/// after `atMost` (the fallback poll), or when the task is cancelled.
final class ChangeSignal: Sendable {
    private struct State {
        var mark: UInt64 = 0
        var nextWaiter: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    var mark: UInt64 { state.withLock { $0.mark } }

    func ring() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.mark &+= 1
            defer { s.waiters.removeAll() }
            return Array(s.waiters.values)
        }
        for w in waiters { w.resume() }
    }

    func wait(since mark: UInt64, atMost timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: timeout) }
            group.addTask { await self.waitForRing(since: mark) }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForRing(since mark: UInt64) async {
        let id = state.withLock { s -> UInt64 in
            s.nextWaiter &+= 1
            return s.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.mark != mark || Task.isCancelled { return true }
                    s.waiters[id] = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}
