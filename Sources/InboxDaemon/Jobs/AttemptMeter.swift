import Store
import Synchronization

/// Collects one attempt's analytics as the pipeline goes (README, "Analytics"): CPU seconds of the libav work
/// (`ThreadCPU`), input and output bytes, the converted media's length; phase times come from `PhaseSpan`.
final class AttemptMeter: Sendable {
    private struct Values {
        var cpu: Double?
        var inputBytes: Int64?
        var outputBytes: Int64?
        var mediaSeconds: Double?
    }

    private let queuedSeconds: Double
    private let values = Mutex(Values())

    init(queuedSeconds: Double) { self.queuedSeconds = queuedSeconds }

    func addCPU(_ seconds: Double) { values.withLock { $0.cpu = ($0.cpu ?? 0) + seconds } }
    func setInputBytes(_ bytes: Int64?) { values.withLock { $0.inputBytes = bytes } }
    func setOutputBytes(_ bytes: Int64?) { values.withLock { $0.outputBytes = bytes } }
    func setMediaSeconds(_ seconds: Double) { values.withLock { $0.mediaSeconds = seconds } }

    /// The speed factor is the converted media's seconds per wall second of the `converting` phase (HLS and thumbnail).
    func analytics(phases: [JobPhase: Double]) -> JobAnalytics {
        let v = values.withLock { $0 }
        var a = JobAnalytics()
        a.queuedS = queuedSeconds
        a.downloadS = phases[.downloading]
        a.probeS = phases[.probing]
        a.convertS = phases[.converting]
        a.uploadS = phases[.uploading]
        a.cpuS = v.cpu
        a.inputBytes = v.inputBytes
        a.outputBytes = v.outputBytes
        if let media = v.mediaSeconds, let wall = a.convertS, wall > 0 { a.speedFactor = media / wall }
        return a
    }
}
