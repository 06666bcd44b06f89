import CLibAV
import Foundation

/// What the daemon stores about a drop's media (the db's `duration_s`, `width`, … columns).
public struct MediaInfo: Sendable, Equatable {
    public var durationSeconds: Double
    /// Picture size as displayed (after the stream's rotation, if any).
    public var width: Int?
    public var height: Int?
    /// libav codec names: "h264", "aac", "vp9", "opus".
    public var videoCodec: String?
    public var audioCodec: String?
    public var sizeBytes: Int64
    /// libav's demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2" or "matroska,webm".
    public var formatName: String

    public init(
        durationSeconds: Double, width: Int?, height: Int?, videoCodec: String?, audioCodec: String?,
        sizeBytes: Int64, formatName: String
    ) {
        self.durationSeconds = durationSeconds
        self.width = width
        self.height = height
        self.videoCodec = videoCodec
        self.audioCodec = audioCodec
        self.sizeBytes = sizeBytes
        self.formatName = formatName
    }
}

public enum MediaProbe {
    /// Opens `path` with libav and describes it. Blocking (it reads up to a few MB), so call it on a dedicated thread.
    ///
    /// It describes whatever libav can open, so an audio-only file gives `videoCodec == nil` rather than an error;
    /// `HLSConverter.convert` is what refuses it (`.noVideoStream`). Empty files, directories and data libav
    /// cannot parse throw `.unreadableMedia` with the path and libav's message.
    public static func probe(path: String) throws(PipelineError) -> MediaInfo {
        let input = try InputFile(path: path, control: nil)
        let video = input.bestVideoStream
        let audio = input.bestAudioStream
        // Width and height as displayed: a portrait phone video is 1080×1920 although its frames are 1920×1080.
        let turned = video.map { $0.displayRotation % 180 != 0 } ?? false
        var st = stat()
        let size = stat(path, &st) == 0 ? Int64(st.st_size) : 0
        return MediaInfo(
            durationSeconds: input.durationSeconds ?? 0,
            width: video.map { turned ? $0.height : $0.width },
            height: video.map { turned ? $0.width : $0.height },
            videoCodec: video?.codecName,
            audioCodec: audio?.codecName,
            sizeBytes: size,
            formatName: input.formatName
        )
    }
}
