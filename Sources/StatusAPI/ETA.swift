import Foundation
import Store

/// Seconds a processing job still needs, from its progress rate since `started_at`: a job at 40% after 20 s is
/// estimated to need 30 s more. Nil when unknown (not started, no progress yet, or finished unsuccessfully); 0 once ready.
public enum ETA {
    public static func seconds(for row: VideoRow, now: Date = Date()) -> Double? {
        seconds(status: row.status, progress: row.progress, startedAt: row.startedAt, now: now)
    }

    public static func seconds(status: JobStatus, progress: Double, startedAt: String?, now: Date = Date()) -> Double? {
        seconds(status: status, progress: progress, started: startedAt.flatMap(Timestamp.date), now: now)
    }

    public static func seconds(status: JobStatus, progress: Double, started: Date?, now: Date = Date()) -> Double? {
        switch status {
        case .ready: return 0
        case .processing: break
        case .failed: return nil
        }
        guard dependsOnTime(status: status, progress: progress, started: started), let started else { return nil }
        let elapsed = now.timeIntervalSince(started)
        guard elapsed >= 1 else { return nil }
        let remaining = elapsed * (1 - progress) / progress
        return (remaining * 10).rounded() / 10
    }

    /// Whether the estimate changes with `now` (a running job with some progress): otherwise it is a constant.
    static func dependsOnTime(status: JobStatus, progress: Double, started: Date?) -> Bool {
        status == .processing && progress > 0 && progress < 1 && started != nil
    }
}
