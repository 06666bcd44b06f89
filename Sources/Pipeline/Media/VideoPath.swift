import CLibAV

/// The encoders' shared timing: every rung encodes on the same 1/fps grid with the same key frames.
struct VideoTiming {
    /// nil when libav cannot tell.
    let frameRate: AVRational?
    /// 1/fps. A fine time base such as WebM's 1/1000 makes libx264 treat the input as variable-rate, and its
    /// rate control then spends about 50 % more bits (measured with the ffmpeg CLI, -enc_time_base).
    let encoderTimeBase: AVRational
    let sampleAspectRatio: AVRational
    /// libx264's keyint: the decoding thread forces every key frame; this is only a backstop, and with a
    /// stream-copied top rung it is off, since a key frame the copy does not have would misalign segments.
    let gopSize: Int

    var framesPerSecond: Double? { frameRate.map(av_q2d) }
}

/// Video, once for all rungs: decoder → (yuv420p + upright turn for rotated sources) → frames on the encoders'
/// grid with the segment-boundary key frames marked → `LadderFanout`.
///
/// Key frames: when every rung is encoded, one is forced on the first frame at or after each segment's end in the
/// `SegmentSchedule` (ffmpeg's -force_key_frames expr:gte(t,n_forced*6) with uniform segments). Beside a
/// stream-copied top rung, one is forced wherever the source has one, so the HLS muxer of each rung sees the same
/// key frames and cuts at the same times.
final class VideoPath: StreamTranscoder {
    let decoder: CodecContext
    let timing: VideoTiming
    /// The upright picture size the rungs scale from.
    let width: Int
    let height: Int
    private let source: MediaStream
    private let schedule: SegmentSchedule
    private let followSourceKeyframes: Bool
    private let normalizer: Scaler
    private let rotator: FrameRotator?
    private let decoded: Frame
    private let normalized: Frame
    private let rotated: Frame
    /// Output time 0 and the frames kept, in seconds on the source's timeline (`setWindow`).
    private var origin = 0.0
    private var keepFrom = 0.0
    private var end: Double?
    /// Key frames are forced at the schedule's times counted from the first frame kept, as the segments are cut
    /// counting from the first packet (`TSSegments`): a source whose video starts a little after 0 (an MKV with AAC
    /// priming starts it at 0.021 s) would otherwise have every forced key frame fall just short of a segment end.
    private var firstOutputSeconds: Double?
    /// Segment ends passed so far; the next key frame is due at the next one (the first at 0).
    private var boundariesPassed = 0
    private var nextKeyframe: Double { boundariesPassed == 0 ? 0 : schedule.end(ofSegment: boundariesPassed - 1) }
    private var lastPts = Int64.min
    private(set) var isDone = false
    private(set) var framesDecoded = 0

    init(input: InputFile, video: MediaStream, schedule: SegmentSchedule, followSourceKeyframes: Bool,
         control: JobControl) throws(PipelineError) {
        source = video
        self.schedule = schedule
        self.followSourceKeyframes = followSourceKeyframes
        decoder = try CodecContext.decoder(for: video, path: input.path, control: control)
        let sourceWidth = max(2, video.width & ~1), sourceHeight = max(2, video.height & ~1)
        normalizer = Scaler(width: sourceWidth, height: sourceHeight, format: AV_PIX_FMT_YUV420P)
        let rotation = video.displayRotation
        rotator = rotation == 0 ? nil : FrameRotator(degrees: rotation)
        (width, height) = Self.uprightSize(of: video)
        let sar = video.sampleAspectRatio
        decoded = try Frame()
        normalized = try Frame()
        rotated = try Frame()
        let guessed = input.guessFrameRate(of: video)
        let frameRate = guessed.num > 0 && guessed.den > 0 ? guessed : nil
        let fps = frameRate.map(av_q2d) ?? 25
        timing = VideoTiming(
            frameRate: frameRate,
            encoderTimeBase: frameRate.map(av_inv_q) ?? AVRational(num: 1, den: 25),
            sampleAspectRatio: width == sourceWidth || sar.num <= 0 ? sar : AVRational(num: sar.den, den: sar.num),
            gopSize: followSourceKeyframes ? 1 << 30 : Int((fps * schedule.every * 2).rounded())
        )
    }

    /// The picture as displayed, even-sized (4:2:0): what the rungs are scaled from.
    static func uprightSize(of video: MediaStream) -> (width: Int, height: Int) {
        let width = max(2, video.width & ~1), height = max(2, video.height & ~1)
        return video.displayRotation % 180 == 0 ? (width, height) : (height, width)
    }

    /// Set before the first packet: a stream-copied clip knows its origin only at its first key frame.
    func setWindow(origin: Double, keepFrom: Double, end: Double?) {
        self.origin = origin
        self.keepFrom = keepFrom
        self.end = end
    }

    func finish(into fanout: LadderFanout) throws(PipelineError) {
        if !isDone {
            _ = try decoder.send(nil as Packet?)
            try drainDecoder(into: fanout)
        }
    }

    func drainDecoder(into fanout: LadderFanout) throws(PipelineError) {
        while try decoder.receive(decoded) {
            defer { decoded.unref() }
            guard !isDone, let ts = decoded.bestEffortTimestamp else { continue }
            let seconds = source.seconds(ts)
            if seconds < keepFrom - 0.001 { continue }
            if let end, seconds >= end - 0.001 {
                isDone = true
                continue
            }
            // libx264 refuses a pts that does not increase (two frames of a faster variable rate on one tick).
            let onGrid = av_rescale_q(ts - source.timestamp(seconds: origin), source.timeBase, timing.encoderTimeBase)
            let pts = max(onGrid, lastPts == Int64.min ? 0 : lastPts + 1)
            lastPts = pts
            let forced: Bool
            if followSourceKeyframes {
                forced = decoded.raw.pointee.key_frame != 0 || framesDecoded == 0
            } else {
                let outSeconds = Double(pts) * av_q2d(timing.encoderTimeBase)
                if firstOutputSeconds == nil { firstOutputSeconds = outSeconds }
                let sinceFirst = outSeconds - firstOutputSeconds!
                forced = sinceFirst >= nextKeyframe - 0.001
                if forced {
                    while nextKeyframe <= sinceFirst + 0.001 { boundariesPassed += 1 }
                }
            }
            var frame = decoded
            if rotator != nil, normalizer.isNeeded(for: decoded) {
                try normalizer.scale(decoded, into: normalized)
                frame = normalized
            }
            if let rotator {
                try rotator.rotate(frame, into: rotated)
                frame = rotated
            }
            frame.pts = pts
            frame.setForcedKeyframe(forced)
            framesDecoded += 1
            try fanout.video(frame, seconds: Double(pts) * av_q2d(timing.encoderTimeBase))
        }
    }
}

/// One stream's decode → … chain, fed packet by packet.
protocol StreamTranscoder: AnyObject {
    var decoder: CodecContext { get }
    var isDone: Bool { get }
    /// Takes every frame the decoder has ready through the rest of the chain.
    func drainDecoder(into fanout: LadderFanout) throws(PipelineError)
}

extension StreamTranscoder {
    /// Feeds one packet, draining the decoder until it accepts it (or the clip has ended).
    func decode(_ packet: Packet, into fanout: LadderFanout) throws(PipelineError) {
        guard !isDone else { return }
        while true {
            let accepted = try decoder.send(packet)
            try drainDecoder(into: fanout)
            if accepted || isDone { return }
        }
    }
}
