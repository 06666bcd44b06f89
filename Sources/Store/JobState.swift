import GRDB

// Every state column is one of these enums, in rows, query arguments and JSON alike: GRDB stores a `String` raw value
// as that text (so admins' SQL keeps working), and reading any other text is an error that names the value.

/// `videos.status`: the seed's three values, which the old front end and admins' SQL rely on.
public enum JobStatus: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
    case processing, ready, failed
}

/// `videos.phase`: the finer step inside `processing`; a failed job keeps the phase it failed in. `receiving`: a
/// resumable (tus) upload is still arriving (progress = bytes received / length). `retrying`: a transient failure
/// waits for `next_attempt_at`.
public enum JobPhase: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
    case receiving, queued, downloading, probing, converting, uploading, retrying, done
}

public enum Visibility: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
    case draft, `private`, published
}

/// `videos.source`: how the job entered the inbox.
public enum JobSource: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
    case http, drop, url
}

/// `videos.failure_reason`: why a failed job failed, in one fixed word, so admins can group failures
/// (`SELECT failure_reason, count(*) FROM videos WHERE status='failed' GROUP BY 1`) and `/metrics` can count them.
/// `error` keeps the full text an operator acts on.
public enum FailureReason: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
    /// The sidecar is not valid JSON, too large, or a field is wrong.
    case sidecar
    /// A sidecar whose media never arrived within `orphan_seconds` (and no `source_url`).
    case orphan
    /// The media or sidecar is a symlink, FIFO, device or directory.
    case unsafeFile = "unsafe_file"
    /// The sidecar's `video_id` belongs to an existing job.
    case duplicateID = "duplicate_id"
    /// A URL ingest download failed (HTTP status, timeout, size limit, short body).
    case download
    /// A URL ingest target was refused by the address guard (loopback, private, metadata addresses).
    case urlRefused = "url_refused"
    /// The media's SHA-256 differs from the sidecar's `sha256`.
    case checksum
    /// The input is not readable media or has no video stream.
    case unreadableMedia = "unreadable_media"
    /// libav failed while converting or making the thumbnail.
    case convert
    /// The job ran past `job_time_limit_seconds`.
    case timeLimit = "time_limit"
    /// The job made no progress for `stall_seconds`.
    case stalled
    /// Publishing the output failed (S3 error, output directory not writable).
    case publish
    /// A retry was asked for but the kept originals in `failed/<id>/` are gone.
    case originalsMissing = "originals_missing"
    /// Local file-system trouble (a file vanished, permissions).
    case io
    /// No space left (ENOSPC/EDQUOT) on the disk of the scratch, output or db, for every allowed attempt.
    case diskFull = "disk_full"
    /// The daemon died during every allowed attempt (a libav crash on hostile input, an OOM kill): a poison drop.
    case crashed
    /// A row in `processing` with no job behind it: its files are gone from the inbox.
    case lost
    /// A resumable upload was not completed within `upload_expiry_hours` of its last data; its bytes were removed.
    case uploadExpired = "upload_expired"
    /// The client ended a resumable upload before it was complete (tus termination, `DELETE`).
    case uploadTerminated = "upload_terminated"
    /// Anything else (the `error` text says what).
    case other
}

// Interpolated as the db text (`"\(reason)"` reads `unsafe_file`, not the case name): messages, logs and the CLI
// show what admins' SQL sees.
extension JobStatus: CustomStringConvertible { public var description: String { rawValue } }
extension JobPhase: CustomStringConvertible { public var description: String { rawValue } }
extension Visibility: CustomStringConvertible { public var description: String { rawValue } }
extension JobSource: CustomStringConvertible { public var description: String { rawValue } }
extension FailureReason: CustomStringConvertible { public var description: String { rawValue } }
