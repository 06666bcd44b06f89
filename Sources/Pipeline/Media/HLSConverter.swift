import CLibAV
import Foundation

/// Converts one media file to an HLS bitrate ladder in the output layout README describes ("Output and conversion"),
/// in-process with libav (`HLSLadder`).
///
/// H.264 (8-bit 4:2:0, no display rotation) with AAC or without audio is, with `ladderCopyTop`, the top rung by
/// stream copy (`.remux`): lossless, and its segments follow the source's keyframes (never `split_by_time`, which
/// would start segments without an IDR); the rungs below it are encoded with key frames at the same times.
/// Otherwise (`.transcode`) every rung is libx264 yuv420p with a keyframe forced every `segmentSeconds`, plus one
/// native AAC 48 kHz stereo encode shared by all rungs; a rotated picture is turned upright on the way.
///
/// Clips: a stream copy can only start at a keyframe, so a clip is remuxed only when the source has an indexed
/// keyframe at most `remuxClipSlack` (1 s) before the requested start; the output then starts at that keyframe
/// (up to 1 s early) and ends at the first video packet at or after the requested end. Otherwise the clip is
/// transcoded, which cuts at the exact frame (within one audio frame for audio).
public struct HLSConverter: Sendable {
    public var options: HLSOptions

    /// How much earlier than requested a remuxed clip may start before we transcode instead.
    static let remuxClipSlack = 1.0

    public init(options: HLSOptions = HLSOptions()) {
        self.options = options
    }

    /// Blocking: the caller runs it on `DedicatedThread` (the rung encoders get threads of their own, started and
    /// joined here). Writes `outputDirectory/master.m3u8` → `outputDirectory/<rendition>/index.m3u8` + segments
    /// (README, "Output and conversion"). On failure or cancellation the directory may hold partial segments and
    /// EVENT playlists without an end; the caller removes it.
    public func convert(
        input path: String, outputDirectory: String, clip: ClipRange?, control: JobControl
    ) throws(PipelineError) -> HLSResult {
        try control.check()
        guard options.segmentSeconds > 0 else { throw .invalidArgument("segment length must be positive") }
        guard (options.firstSegmentSeconds ?? 1) > 0 else { throw .invalidArgument("the first segment's length must be positive") }
        guard !options.ladder.isEmpty else { throw .invalidArgument("the bitrate ladder needs at least one rung") }
        let input = try InputFile(path: path, control: control)
        guard let video = input.bestVideoStream else { throw .noVideoStream(path: path) }
        let audio = input.bestAudioStream
        let window = try ClipWindow(clip: clip, input: input, path: path)

        let copyTop = options.ladderCopyTop && canCopy(video: video, audio: audio)
            && keyframeStartIsClose(video: video, window: window)
        let ladder = HLSLadder(input: input, video: video, audio: audio, window: window, options: options,
                               copyTop: copyTop, control: control)
        return try ladder.run(outputDirectory: outputDirectory)
    }

    private func canCopy(video: MediaStream, audio: MediaStream?) -> Bool {
        // High 10 or 4:2:2 H.264 is valid but most browsers and phones cannot play it.
        let playable = video.pixelFormat == AV_PIX_FMT_YUV420P || video.pixelFormat == AV_PIX_FMT_YUVJ420P
        // MPEG-TS cannot carry a display rotation, so a rotated (phone) video must be turned upright by re-encoding.
        return video.codecID == AV_CODEC_ID_H264 && playable && video.displayRotation == 0
            && (audio == nil || audio?.codecID == AV_CODEC_ID_AAC)
    }

    private func keyframeStartIsClose(video: MediaStream, window: ClipWindow) -> Bool {
        guard window.isClipped, window.start > window.mediaStart else { return true }
        let target = video.timestamp(seconds: window.start)
        guard let keyframe = video.indexedKeyframe(atOrBefore: target) else { return false }
        return window.start - video.seconds(keyframe) <= Self.remuxClipSlack
    }
}

/// A clip resolved against the input: absolute timestamps (the container may not start at 0) and the
/// output duration to expect.
struct ClipWindow {
    /// Container start time in seconds.
    let mediaStart: Double
    /// Absolute start of the output.
    let start: Double
    /// Absolute end, when clipped to a duration that ends before the media does.
    let end: Double?
    /// Seconds of output to expect, for progress (nil when libav does not know the input's duration).
    let expectedDuration: Double?
    let isClipped: Bool

    init(clip: ClipRange?, input: InputFile, path: String) throws(PipelineError) {
        mediaStart = input.startSeconds
        let total = input.durationSeconds
        guard let clip else {
            start = mediaStart
            end = nil
            expectedDuration = total
            isClipped = false
            return
        }
        guard clip.start.isFinite, clip.start >= 0 else {
            throw .invalidArgument("clip start \(clip.start) s for \(path) must be a number ≥ 0")
        }
        if let duration = clip.duration, !(duration.isFinite && duration > 0) {
            throw .invalidArgument("clip duration \(duration) s for \(path) must be a number > 0")
        }
        if let total, clip.start >= total {
            throw .invalidArgument(
                "clip start \(clip.start) s is beyond the end of \(path), which is \(Self.format(total)) s long"
            )
        }
        isClipped = true
        start = mediaStart + clip.start
        let remaining = total.map { $0 - clip.start }
        switch (clip.duration, remaining) {
        case let (duration?, remaining?) where duration < remaining:
            end = start + duration
            expectedDuration = duration
        case let (duration?, nil):
            end = start + duration
            expectedDuration = duration
        default:
            end = nil
            expectedDuration = remaining
        }
    }

    private static func format(_ seconds: Double) -> String { String(format: "%.2f", seconds) }
}
