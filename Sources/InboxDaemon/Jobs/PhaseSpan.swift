import Foundation
import Pipeline
import Store
import Synchronization

/// Maps a step's own 0–1 progress into the job's range for the current phase, and writes it to the row at most
/// twice a second (the front end polls every 2–3 s; more writes would only load SQLite). Also times each phase
/// (wall seconds, for the job's analytics).
final class PhaseSpan: Sendable {
    private final class Cell: Sendable {
        let value = Mutex<(latest: Double, written: Double)>((0, -1))
    }

    private let store: any JobStoring
    private let id: String
    private let control: JobControl
    private let cell = Cell()
    private let flusher = Mutex<Task<Void, Never>?>(nil)
    private let current = Mutex<JobPhase?>(nil)
    private let timing = Mutex<(open: (JobPhase, ContinuousClock.Instant)?, seconds: [JobPhase: Double])>((nil, [:]))

    /// The phase the job is in (nil before the first).
    var phase: JobPhase? { current.withLock { $0 } }

    /// Wall seconds spent in each phase entered so far (the current one up to now).
    var phaseSeconds: [JobPhase: Double] {
        timing.withLock { t in
            var out = t.seconds
            if let (phase, since) = t.open { out[phase, default: 0] += Self.seconds(since.duration(to: .now)) }
            return out
        }
    }

    private static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    private func closePhase() {
        timing.withLock { t in
            if let (phase, since) = t.open { t.seconds[phase, default: 0] += Self.seconds(since.duration(to: .now)) }
            t.open = nil
        }
    }

    init(store: any JobStoring, id: String, control: JobControl) {
        self.store = store
        self.id = id
        self.control = control
    }

    func enter(_ phase: JobPhase, from: Double, to: Double) async throws {
        try control.check()
        current.withLock { $0 = phase }
        closePhase()
        timing.withLock { $0.open = (phase, .now) }
        try await store.setPhase(id, phase, progress: from)
        let cell = self.cell
        cell.value.withLock { $0 = (from, from) }
        control.setProgressHandler { fraction in
            cell.value.withLock { $0.latest = from + (to - from) * fraction }
        }
        let store = self.store, id = self.id
        flusher.withLock { task in
            guard task == nil else { return }
            task = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(500))
                    let value = cell.value.withLock { s -> Double? in
                        guard s.latest != s.written else { return nil }
                        s.written = s.latest
                        return s.latest
                    }
                    if let value { try? await store.setProgress(id, value) }
                }
            }
        }
    }

    func finish() {
        closePhase()
        control.setProgressHandler(nil)
        flusher.withLock { $0?.cancel() }
    }

    deinit { flusher.withLock { $0?.cancel() } }
}
