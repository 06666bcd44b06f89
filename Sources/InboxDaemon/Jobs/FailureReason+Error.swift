import Pipeline
import Store

extension FailureReason {
    /// Classifies why a job's attempt failed. A cancelled job (the watchdog's time limit or stall) is classified
    /// by its control's reason, whichever error the interrupted step surfaced.
    init(_ error: Error, control: JobControl, limits: JobRunner.Limits) {
        if control.isCancelled, let why = control.cancelReason {
            switch why {
            case JobRunner.timeLimitMessage(limits): self = .timeLimit; return
            case JobRunner.stallMessage(limits): self = .stalled; return
            default: break
            }
        }
        switch error {
        case let e as PipelineError:
            switch e {
            case .cancelled: self = .other
            case .unreadableMedia, .noVideoStream: self = .unreadableMedia
            case .libav: self = .convert
            case .checksumMismatch: self = .checksum
            case .download: self = .download
            case .forbiddenTarget: self = .urlRefused
            case .publish: self = .publish
            case .io: self = .io
            case .invalidArgument: self = .other
            }
        case is SidecarError: self = .sidecar
        case let e as JobError:
            switch e {
            case .rowVanished: self = .other
            case .mediaMissing, .noSidecar: self = .io
            }
        case is SystemError: self = .io
        default: self = .other
        }
    }
}
