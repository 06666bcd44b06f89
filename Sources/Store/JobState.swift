/// `videos.status`: the seed's three values, which the old front end and admins' SQL rely on.
public enum JobStatus: String, Codable, Sendable, CaseIterable {
    case processing, ready, failed
}

/// `videos.phase`: the finer step inside `processing`; a failed job keeps the phase it failed in.
public enum JobPhase: String, Codable, Sendable, CaseIterable {
    case queued, downloading, probing, converting, uploading, done
}

public enum Visibility: String, Codable, Sendable, CaseIterable {
    case draft, `private`, published
}

/// `videos.source`: how the job entered the inbox.
public enum JobSource: String, Codable, Sendable, CaseIterable {
    case http, drop, url
}
