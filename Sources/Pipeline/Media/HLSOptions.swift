/// The part of the input to convert: `start` seconds from the beginning, `duration` seconds long
/// (to the end when nil). The sidecar's `clip`.
public struct ClipRange: Sendable, Equatable {
    public var start: Double
    public var duration: Double?

    public init(start: Double, duration: Double?) {
        self.start = start
        self.duration = duration
    }
}

public struct HLSOptions: Sendable {
    /// Target segment length. Transcoding forces a keyframe every `segmentSeconds`; a remux cuts at the
    /// source's keyframes, so its segments follow the source GOP (at least this long).
    public var segmentSeconds: Double = 6
    public var x264Preset = "veryfast"
    public var crf = 23

    public init() {}
}

public enum HLSMode: String, Sendable {
    /// Stream copy: H.264 (8-bit 4:2:0) with AAC or no audio.
    case remux
    /// libx264 + AAC 48 kHz stereo.
    case transcode
}

public struct HLSResult: Sendable {
    public var mode: HLSMode
    /// The rendition directory under the output directory, e.g. "720p".
    public var rendition: String
    /// Duration of what was written (the clip's, when clipped).
    public var durationSeconds: Double

    public init(mode: HLSMode, rendition: String, durationSeconds: Double) {
        self.mode = mode
        self.rendition = rendition
        self.durationSeconds = durationSeconds
    }
}
