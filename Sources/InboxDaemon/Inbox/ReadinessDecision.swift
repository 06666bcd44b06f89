import Store

/// What the watcher knows about one drop at one instant, with no I/O left to do: the file kinds from `lstat`, what
/// inotify told about each file (`TrackedFile`), and the sidecar's content once it has been read.
struct DropFacts {
    enum SidecarContent {
        /// Not read yet: it is read only once the sidecar is complete.
        case notRead
        /// It vanished or could not be opened for a moment; the next event or tick tries again.
        case unreadable
        case parsed(Sidecar)
        case invalid(SidecarError)
    }

    var sidecarName: String
    var mediaName: String
    /// nil: the sidecar is gone.
    var sidecarKind: FileSystem.Kind?
    /// From `lstat`: a sidecar over the limit is refused by its real size, unread (a read stops past the limit).
    var sidecarSize: Int64 = 0
    var sidecar: TrackedFile
    var content: SidecarContent = .notRead
    /// nil: no media file (yet).
    var mediaKind: FileSystem.Kind?
    /// Hard links to the media's inode.
    var mediaLinks = 1
    var media: TrackedFile?
}

/// The watcher's decision for one drop. `decide` is a pure function of the facts and the clock, so the readiness
/// rules (README, "When is a drop claimed?") are tested as a table without inotify or a daemon.
enum ReadinessDecision: Equatable {
    enum Wait: String, Equatable {
        case sidecarIncomplete = "sidecar_incomplete"
        case sidecarUnreadable = "sidecar_unreadable"
        case mediaMissing = "media_missing"
        case mediaIncomplete = "media_incomplete"
        /// The drop is complete, but its user has `max_queued_jobs` jobs in the queue (`QueueGate`).
        case userQueueFull = "user_queue_full"
    }

    /// The sidecar is gone: stop tracking it.
    case forget
    case wait(Wait)
    /// The sidecar is complete: read it and decide again.
    case readSidecar
    case claim(hasMedia: Bool)
    case reject(FailureReason, message: String)

    struct Timing {
        var settleSeconds: Double
        var orphanSeconds: Double
        /// `allow_hard_links`: claim media that has other hard links.
        var allowHardLinks = false
    }

    static func decide(_ f: DropFacts, now: Double, timing: Timing) -> ReadinessDecision {
        guard let sidecarKind = f.sidecarKind else { return .forget }
        guard sidecarKind == .regular else {
            return .reject(.unsafeFile, message: "sidecar \(f.sidecarName) is \(describe(sidecarKind)); inboxd only reads regular files")
        }
        guard f.sidecar.openCount == 0, f.sidecar.completedAt != nil || f.sidecar.isSettled(now: now, settle: timing.settleSeconds) else {
            return .wait(.sidecarIncomplete)
        }
        if f.sidecarSize > Sidecar.maxBytes { return .reject(.sidecar, message: SidecarError.tooLarge(Int(f.sidecarSize)).description) }
        let sidecar: Sidecar
        switch f.content {
        case .notRead: return .readSidecar
        case .unreadable: return .wait(.sidecarUnreadable)
        case .invalid(let error): return .reject(.sidecar, message: error.description)
        case .parsed(let s): sidecar = s
        }
        guard let mediaKind = f.mediaKind else {
            if sidecar.sourceURL != nil { return .claim(hasMedia: false) }
            if now - (f.sidecar.completedAt ?? f.sidecar.stableSince) >= timing.orphanSeconds {
                return .reject(.orphan, message: "no media file '\(f.mediaName)' arrived within \(Int(timing.orphanSeconds)) s of its sidecar, and the sidecar has no source_url")
            }
            return .wait(.mediaMissing)
        }
        guard mediaKind == .regular else {
            return .reject(.unsafeFile, message: "media \(f.mediaName) is \(describe(mediaKind)); inboxd never follows links or opens non-regular files")
        }
        if f.mediaLinks > 1, !timing.allowHardLinks {
            return .reject(.unsafeFile, message: "media \(f.mediaName) has \(f.mediaLinks) hard links; a hard link can expose a file from outside the inbox, so inboxd refuses it (copy the file instead, or set allow_hard_links = true)")
        }
        guard let media = f.media else { return .wait(.mediaIncomplete) }
        if media.isClosed(before: f.sidecar.completedSeq) || media.isSettled(now: now, settle: timing.settleSeconds) {
            return .claim(hasMedia: true)
        }
        return .wait(.mediaIncomplete)
    }

    static func describe(_ kind: FileSystem.Kind) -> String {
        switch kind {
        case .regular: "a regular file"
        case .directory: "a directory"
        case .symlink: "a symbolic link"
        case .other(let what): what
        }
    }
}
