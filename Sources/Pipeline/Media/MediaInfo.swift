/// What probing found in an input.
public struct MediaInfo: Sendable, Equatable {
    public var durationSeconds: Double
    public var width: Int?
    public var height: Int?
    public var videoCodec: String?
    public var audioCodec: String?
    public var sizeBytes: Int64
    public var formatName: String
}
