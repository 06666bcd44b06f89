/// Turns output timestamps into `JobControl.progressed` calls, at most ten a second: the daemon writes each
/// one to SQLite, and libav hands us hundreds of packets a second.
struct ProgressReporter {
    let control: JobControl
    /// Seconds of output expected; when libav does not know the input's duration, output time still goes to
    /// the stall watchdog as a heartbeat.
    let totalSeconds: Double?
    private var last: ContinuousClock.Instant?

    init(control: JobControl, totalSeconds: Double?) {
        self.control = control
        self.totalSeconds = totalSeconds
    }

    mutating func report(outputSeconds: Double) {
        let now = ContinuousClock.now
        if let last, now - last < .milliseconds(100) { return }
        last = now
        if let totalSeconds, totalSeconds > 0 {
            control.progressed(min(max(outputSeconds / totalSeconds, 0), 1))
        } else if outputSeconds.isFinite {
            control.heartbeat(position: Int64(outputSeconds * 1000))
        }
    }

    func finished() { control.progressed(1) }
}
