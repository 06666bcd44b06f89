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

/// One rendition of the bitrate ladder (config `[[ladder]]`): a picture height and the libx264 VBV settings.
public struct LadderRung: Sendable, Equatable {
    /// Picture height in pixels (even); the width follows the source's aspect.
    public var height: Int
    /// Average video bit rate (libx264 `b:v`), bits/s.
    public var videoBitRate: Int
    /// Peak video bit rate (VBV `maxrate`; the buffer is twice that, one second at peak), bits/s.
    public var maxRate: Int
    /// AAC bit rate, bits/s. One audio encode serves every rung: the top rung's value is used.
    public var audioBitRate: Int

    public init(height: Int, videoBitRate: Int, maxRate: Int, audioBitRate: Int = 128_000) {
        self.height = height
        self.videoBitRate = videoBitRate
        self.maxRate = maxRate
        self.audioBitRate = audioBitRate
    }

    /// 1080p/720p/480p/360p, the usual H.264 ladder for phones to desktops.
    public static let defaults = [
        LadderRung(height: 1080, videoBitRate: 5_000_000, maxRate: 7_500_000),
        LadderRung(height: 720, videoBitRate: 2_800_000, maxRate: 4_200_000),
        LadderRung(height: 480, videoBitRate: 1_400_000, maxRate: 2_100_000),
        LadderRung(height: 360, videoBitRate: 800_000, maxRate: 1_200_000),
    ]
}

/// Media segment container (config `segment_format`).
public enum SegmentFormat: String, Sendable, CaseIterable {
    /// MPEG-TS `.ts` segments: every HLS player.
    case ts
    /// CMAF fragmented MP4: `init.mp4` plus `.m4s` segments (`#EXT-X-MAP`).
    case fmp4

    var segmentExtension: String { self == .ts ? "ts" : "m4s" }
}

/// Where segments end, in seconds of output time: the first at `first`, then every `every` seconds (a segment ends
/// at the first video key frame at or past its end, so a stream copy's follow the source GOP).
struct SegmentSchedule: Equatable {
    let first: Double
    let every: Double

    static func uniform(_ seconds: Double) -> SegmentSchedule { SegmentSchedule(first: seconds, every: seconds) }

    /// Where segment `index` (0-based) ends.
    func end(ofSegment index: Int) -> Double { first + every * Double(index) }
}

public struct HLSOptions: Sendable {
    /// Target segment length. Encoded rungs get a keyframe every `segmentSeconds`; a stream-copied rung cuts at
    /// the source's keyframes, so its segments follow the source GOP (at least this long), and the encoded rungs
    /// beside it get their keyframes at the same times.
    public var segmentSeconds: Double = 6
    /// A shorter first segment (MPEG-TS only), so a preview is playable sooner: the first segment ends at the first
    /// key frame at or past this many seconds, the next ones every `segmentSeconds` after it (as the ffmpeg CLI's
    /// `hls_init_time`, for one segment). nil, or a value ≥ `segmentSeconds`: every segment `segmentSeconds`.
    public var firstSegmentSeconds: Double?
    public var x264Preset = "veryfast"
    /// Rungs, any order; those taller than the source are dropped (never upscaled).
    public var ladder = LadderRung.defaults
    /// When the source is H.264 (8-bit 4:2:0, upright) with AAC or no audio, it is the top rung by stream copy.
    public var ladderCopyTop = true
    public var segmentFormat = SegmentFormat.ts
    /// When set, the conversion pauses while the HTTP API is flooded (`convert_yield_rps`).
    public var apiPressure: APIPressure?

    public init() {}

    /// fMP4 segments are cut by libav's "hls" muxer, whose `hls_init_time` would shorten every segment of a
    /// playlist that keeps them all: they stay uniform.
    var schedule: SegmentSchedule {
        guard segmentFormat == .ts, let first = firstSegmentSeconds, first > 0, first < segmentSeconds else {
            return .uniform(segmentSeconds)
        }
        return SegmentSchedule(first: first, every: segmentSeconds)
    }
}

public enum HLSMode: String, Sendable {
    /// The top rung is a stream copy of H.264 (8-bit 4:2:0) with AAC or no audio; lower rungs, if any, encoded.
    case remux
    /// Every rung libx264 + AAC 48 kHz stereo.
    case transcode
}

/// One rendition written: `<dir>/<name>/index.m3u8`.
public struct HLSRendition: Sendable, Equatable {
    /// Directory name, e.g. "720p".
    public var name: String
    public var width: Int
    public var height: Int
    /// Stream copy of the source rather than a libx264 encode.
    public var copied: Bool
    /// Measured from the segments: peak (max over segments of bytes × 8 / duration) and average, bits/s.
    public var peakBitRate: Int
    public var averageBitRate: Int
}

public struct HLSResult: Sendable {
    public var mode: HLSMode
    /// The top rung's directory under the output directory, e.g. "1080p".
    public var rendition: String
    /// Every rung, tallest first.
    public var renditions: [HLSRendition]
    /// Duration of what was written (the clip's, when clipped).
    public var durationSeconds: Double

    public init(mode: HLSMode, renditions: [HLSRendition], durationSeconds: Double) {
        self.mode = mode
        self.rendition = renditions.first?.name ?? ""
        self.renditions = renditions
        self.durationSeconds = durationSeconds
    }
}
