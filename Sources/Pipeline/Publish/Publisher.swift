/// Where a finished job's public URLs point.
public struct PublishedVideo: Sendable, Equatable {
    public var videoURL: String
    public var thumbnailURL: String?

    public init(videoURL: String, thumbnailURL: String?) {
        self.videoURL = videoURL
        self.thumbnailURL = thumbnailURL
    }
}

/// Publishes a converted job directory (`master.m3u8`, `<rendition>/index.m3u8` + segments, `thumbnail.jpg`)
/// as `videos/<videoID>/…`. Readers must never see a master playlist pointing at missing objects: the master
/// goes last (or the whole tree appears at once). Publishing the same job again must be safe (crash retry).
public protocol Publisher: Sendable {
    func publish(directory: String, videoID: String, control: JobControl) async throws -> PublishedVideo
    /// Where `LivePublication` puts the video's files one by one while it converts. Blocking (an S3 target opens
    /// its curl handles): call it from a dedicated thread.
    func liveTarget(videoID: String) throws(PipelineError) -> any LiveTarget
}
