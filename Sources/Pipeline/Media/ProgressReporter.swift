/// Turns output timestamps into `JobControl.progressed` calls, at most ten a second: the daemon writes each
/// one to SQLite, and libav hands us hundreds of packets a second.
struct ProgressReporter {
    let control: JobControl
    /// Seconds of output expected; no progress is reported when it is unknown.
    let totalSeconds: Double?
    private var last: ContinuousClock.Instant?

    init(control: JobControl, totalSeconds: Double?) {
        self.control = control
        self.totalSeconds = totalSeconds
    }

    mutating func report(outputSeconds: Double) {
        guard let totalSeconds, totalSeconds > 0 else { return }
        let now = ContinuousClock.now
        if let last, now - last < .milliseconds(100) { return }
        last = now
        control.progressed(min(max(outputSeconds / totalSeconds, 0), 1))
    }

    func finished() { control.progressed(1) }
}
