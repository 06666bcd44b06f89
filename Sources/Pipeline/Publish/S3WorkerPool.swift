import Foundation
import Synchronization

/// A fixed set of upload threads, each owning one curl handle (and so its keep-alive connection) for the whole
/// publish. `run` hands out task indexes until all are done or one failed; the first failure is rethrown.
final class S3WorkerPool: Sendable {
    let handles: [CurlEasy]

    init(size: Int) throws(PipelineError) {
        var handles: [CurlEasy] = []
        for _ in 0..<max(1, size) { handles.append(try CurlEasy()) }
        self.handles = handles
    }

    func run(
        count: Int, _ task: @escaping @Sendable (_ index: Int, _ worker: Int, _ easy: CurlEasy) throws(PipelineError) -> Void
    ) throws(PipelineError) {
        guard count > 0 else { return }
        let queue = TaskQueue(count: count)
        let workers = min(count, handles.count)
        let group = DispatchGroup()
        for worker in 0..<workers {
            let easy = handles[worker]
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                while let index = queue.take() {
                    do throws(PipelineError) { try task(index, worker, easy) } catch { queue.fail(error) }
                }
            }
            thread.name = "s3-upload-\(worker)"
            thread.stackSize = 1 << 20
            thread.start()
        }
        group.wait()
        if let error = queue.error { throw error }
    }

    private final class TaskQueue: Sendable {
        private let state = Mutex<(next: Int, error: PipelineError?)>((0, nil))
        private let count: Int

        init(count: Int) { self.count = count }

        func take() -> Int? {
            state.withLock { s in
                guard s.error == nil, s.next < count else { return nil }
                s.next += 1
                return s.next - 1
            }
        }

        func fail(_ error: PipelineError) { state.withLock { if $0.error == nil { $0.error = error } } }

        var error: PipelineError? { state.withLock { $0.error } }
    }
}

/// Sums the bytes of finished uploads and of each worker's transfer in flight, and reports the fraction to the
/// job in steps of at least 1 % (the callback runs for every few KiB sent). Without a control (live publishing,
/// whose puts run beside the conversion's own progress) it counts but reports nothing.
final class S3UploadProgress: Sendable {
    private let total: Int64
    private let control: JobControl?
    private let state: Mutex<(done: Int64, inFlight: [Int64], reported: Double)>

    init(totalBytes: Int64, workers: Int, control: JobControl?) {
        total = max(totalBytes, 1)
        self.control = control
        state = Mutex((0, Array(repeating: 0, count: workers), 0))
    }

    func sending(worker: Int, bytes: Int64) {
        report(state.withLock { s in
            s.inFlight[worker] = bytes
            return fraction(&s)
        })
    }

    func finished(worker: Int, bytes: Int64) {
        report(state.withLock { s in
            s.inFlight[worker] = 0
            s.done += bytes
            return fraction(&s)
        })
    }

    private func fraction(_ s: inout (done: Int64, inFlight: [Int64], reported: Double)) -> Double? {
        let f = min(1, Double(s.done + s.inFlight.reduce(0, +)) / Double(total))
        guard f - s.reported >= 0.01 || (f == 1 && s.reported < 1) else { return nil }
        s.reported = f
        return f
    }

    private func report(_ fraction: Double?) {
        if let fraction { control?.progressed(fraction) }
    }
}
