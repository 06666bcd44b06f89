/// Where a finished job's public URLs point.
public struct PublishedVideo: Sendable, Equatable {
    public var videoURL: String
    public var thumbnailURL: String?

    public init(videoURL: String, thumbnailURL: String?) {
        self.videoURL = videoURL
        self.thumbnailURL = thumbnailURL
    }
}

/// Where a job's HLS goes (`videos/<videoID>/…` of the local output directory or an S3 bucket). Readers must never
/// see a playlist pointing at missing objects: `LivePublication` puts media before the playlists that name them and
/// the master last. Publishing the same job again must be safe (crash retry).
public protocol Publisher: Sendable {
    /// Where `LivePublication` puts the video's files one by one while it converts. Blocking (an S3 target opens
    /// its curl handles): call it from a dedicated thread.
    func liveTarget(videoID: String) throws(PipelineError) -> any LiveTarget
}
