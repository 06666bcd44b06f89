import GRDB
import Glibc
import Pipeline
import Store

/// Why an attempt failed, and whether trying again later may succeed.
///
/// Transient (the job waits in phase `retrying`, then runs again): S3 or network faults that outlived the
/// in-request retries, HTTP 5xx/429 downloads, a full disk (scratch, output or db), a stall while downloading or
/// uploading. Permanent (the job fails at once): unreadable media, bad sidecar, checksum mismatch, refused URL,
/// S3 403/404, HTTP 4xx downloads, the time limit.
struct AttemptFailure {
    let reason: FailureReason
    let isTransient: Bool

    /// A cancelled job (the watchdog's time limit or stall) is classified by its control's cause, whichever error
    /// the interrupted step surfaced.
    init(_ error: Error, control: JobControl, phase: JobPhase?) {
        switch control.isCancelled ? control.cancelCause : nil {
        case .timeLimit:
            self.init(.timeLimit, transient: false)
            return
        case .stalled:
            // A stalled transfer is the network's fault; a stalled conversion is the input's.
            self.init(.stalled, transient: phase == .downloading || phase == .uploading)
            return
        default: break
        }
        switch error {
        case let e as PipelineError: self.init(e)
        case is SidecarError: self.init(.sidecar, transient: false)
        case let e as JobError:
            switch e {
            case .rowVanished: self.init(.other, transient: false)
            case .mediaMissing, .noSidecar: self.init(.io, transient: false)
            case .noScratchSpace: self.init(.diskFull, transient: true)
            }
        case let e as SystemError: self.init(e.isNoSpace ? .diskFull : .io, transient: e.isNoSpace)
        case let e as DatabaseError where e.resultCode == .SQLITE_FULL: self.init(.diskFull, transient: true)
        case let e as DatabaseError where e.resultCode == .SQLITE_IOERR || e.resultCode == .SQLITE_BUSY:
            self.init(.io, transient: true)
        default: self.init(.other, transient: false)
        }
    }

    init(_ error: PipelineError) {
        switch error {
        case .transient(let inner): self.init(AttemptFailure(inner).reason, transient: true)
        case .noSpace: self.init(.diskFull, transient: true)
        case .cancelled: self.init(.other, transient: false)
        case .unreadableMedia, .noVideoStream: self.init(.unreadableMedia, transient: false)
        case .libav: self.init(.convert, transient: false)
        case .checksumMismatch: self.init(.checksum, transient: false)
        case .download: self.init(.download, transient: false)
        case .forbiddenTarget: self.init(.urlRefused, transient: false)
        case .publish: self.init(.publish, transient: false)
        case .io: self.init(.io, transient: false)
        case .invalidArgument: self.init(.other, transient: false)
        }
    }

    init(_ reason: FailureReason, transient: Bool) {
        self.reason = reason
        self.isTransient = transient
    }
}

extension SystemError {
    var isNoSpace: Bool { code == ENOSPC || code == EDQUOT }
}
