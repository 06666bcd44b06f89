/// Why a job was cancelled. The daemon decides by the cause (a shutdown puts the job back, a time limit or stall
/// fails it); `description` is the text the `cancelled: …` error carries to the db and the logs.
public enum CancelCause: Sendable, Equatable, CustomStringConvertible {
    /// The daemon is stopping; the job resumes on the next start.
    case shutdown
    /// The job ran longer than this many seconds.
    case timeLimit(seconds: Int)
    /// The job made no progress for this many seconds.
    case stalled(seconds: Int)
    /// Any other cause, in words.
    case other(String)

    public var description: String {
        switch self {
        case .shutdown: "daemon shutting down"
        case .timeLimit(let seconds): "processing time limit of \(seconds) s exceeded"
        case .stalled(let seconds): "no progress for \(seconds) s (stalled)"
        case .other(let text): text
        }
    }
}
