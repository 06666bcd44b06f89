import CLibAV

/// Decode → libx264 + AAC → HLS. Video pts go on a 1/fps grid shifted so the clip starts at 0; audio pts are
/// counted in samples at 48 kHz.
struct HLSTranscode {
    let input: InputFile
    let video: MediaStream
    let audio: MediaStream?
    let window: ClipWindow
    let options: HLSOptions
    let control: JobControl

    static let audioSampleRate: Int32 = 48_000
    static let audioBitRate = 128_000

    func run(outputDirectory: String) throws(PipelineError) -> HLSResult {
        input.discardAll(except: [video] + (audio.map { [$0] } ?? []))
        let videoPath = try VideoPath(input: input, video: video, window: window, options: options, control: control)
        let audioPath = try audio.map { source throws(PipelineError) in
            try AudioPath(input: input, audio: source, window: window, control: control)
        }

        let muxer = try HLSMuxer(directory: outputDirectory, control: control)
        try videoPath.open(globalHeader: muxer.needsGlobalHeader)
        try audioPath?.open(globalHeader: muxer.needsGlobalHeader)
        try muxer.addStream(encodedBy: videoPath.encoder)
        if let audioPath {
            try muxer.addStream(encodedBy: audioPath.encoder)
        }
        let rendition = "\(videoPath.height)p"
        try muxer.writeHeader(rendition: rendition, hasAudio: audioPath != nil, segmentSeconds: options.segmentSeconds)

        var sink = PacketSink(muxer: muxer, progress: ProgressReporter(control: control, totalSeconds: window.expectedDuration))
        if window.isClipped, window.start > window.mediaStart { try input.seek(toSeconds: window.start) }
        let packet = try Packet()
        while !(videoPath.isDone && (audioPath?.isDone ?? true)), try input.read(into: packet) {
            defer { packet.unref() }
            try control.check()
            if packet.streamIndex == video.index {
                try videoPath.decode(packet, into: &sink)
            } else if let audioPath, packet.streamIndex == audio?.index {
                try audioPath.decode(packet, into: &sink)
            }
        }
        try control.check()
        try videoPath.finish(into: &sink)
        try audioPath?.finish(into: &sink)
        try control.check()
        guard videoPath.framesEncoded > 0 else {
            throw .unreadableMedia(path: input.path, reason: "no video frame could be decoded")
        }
        try muxer.finish()
        sink.progress.finished()
        return HLSResult(mode: .transcode, rendition: rendition, durationSeconds: sink.span.duration)
    }
}

/// Where encoded packets go: rescaled to the muxer's time base, written, counted for progress and duration.
struct PacketSink {
    let muxer: HLSMuxer
    var progress: ProgressReporter
    var span = OutputSpan()

    mutating func write(_ packet: Packet, stream: Int, from timeBase: AVRational) throws(PipelineError) {
        let outTimeBase = muxer.timeBase(ofStream: stream)
        packet.rescale(from: timeBase, to: outTimeBase)
        packet.setStreamIndex(stream)
        span.add(packet: packet, timeBase: outTimeBase)
        progress.report(outputSeconds: span.end)
        try muxer.write(packet)
    }
}

/// Video: decoder → (swscale when the source is not even-sized yuv420p) → libx264 with forced keyframes.
final class VideoPath: StreamTranscoder {
    let decoder: CodecContext
    let encoder: CodecContext
    let width: Int
    let height: Int
    private let source: MediaStream
    private let window: ClipWindow
    private let options: HLSOptions
    private let scaler: Scaler
    /// Turns the picture upright when the source has a display rotation (phone videos).
    private let rotator: FrameRotator?
    private let decoded: Frame
    private let scaled: Frame
    private let rotated: Frame
    private let encoded: Packet
    /// Output time 0 in the source's time base.
    private let originTimestamp: Int64
    private let sourceTimeBase: AVRational
    /// 1/fps. A fine time base such as WebM's 1/1000 makes libx264 treat the input as variable-rate, and its
    /// rate control then spends about 50 % more bits at the same CRF (measured with the ffmpeg CLI, -enc_time_base).
    private let encoderTimeBase: AVRational
    private var nextKeyframe = 0.0
    private var lastPts = Int64.min
    private(set) var isDone = false
    private(set) var framesEncoded = 0

    init(input: InputFile, video: MediaStream, window: ClipWindow, options: HLSOptions, control: JobControl) throws(PipelineError) {
        source = video
        self.window = window
        self.options = options
        decoder = try CodecContext.decoder(for: video, path: input.path, control: control)
        encoder = try CodecContext.encoder(named: "libx264", control: control)
        // 4:2:0 needs even dimensions.
        let sourceWidth = max(2, video.width & ~1), sourceHeight = max(2, video.height & ~1)
        scaler = Scaler(width: sourceWidth, height: sourceHeight, format: AV_PIX_FMT_YUV420P)
        let rotation = video.displayRotation
        rotator = rotation == 0 ? nil : FrameRotator(degrees: rotation)
        (width, height) = rotator?.rotatedSize(width: sourceWidth, height: sourceHeight) ?? (sourceWidth, sourceHeight)
        let sar = video.sampleAspectRatio
        let sampleAspectRatio = width == sourceWidth || sar.num <= 0 ? sar : AVRational(num: sar.den, den: sar.num)
        decoded = try Frame()
        scaled = try Frame()
        rotated = try Frame()
        encoded = try Packet()
        originTimestamp = video.timestamp(seconds: window.start)

        let frameRate = input.guessFrameRate(of: video)
        let fps = frameRate.num > 0 && frameRate.den > 0 ? av_q2d(frameRate) : 25
        sourceTimeBase = video.timeBase
        encoderTimeBase = frameRate.num > 0 && frameRate.den > 0 ? av_inv_q(frameRate) : AVRational(num: 1, den: 25)
        // Keyframes come from the forced I-frames at every segment boundary; the GOP limit is only a backstop.
        encoder.configureVideo(
            width: width, height: height, timeBase: encoderTimeBase,
            frameRate: frameRate.num > 0 && frameRate.den > 0 ? frameRate : nil,
            sampleAspectRatio: sampleAspectRatio, gopSize: Int((fps * options.segmentSeconds * 2).rounded())
        )
    }

    func open(globalHeader: Bool) throws(PipelineError) {
        if globalHeader { encoder.requestGlobalHeader() }
        try encoder.open(options: LibAVOptions([
            ("preset", options.x264Preset),
            ("crf", String(options.crf)),
            ("profile", "high"),
            ("forced-idr", "1"),
            ("sc_threshold", "0"),
        ]))
    }

    func finish(into sink: inout PacketSink) throws(PipelineError) {
        if !isDone {
            _ = try decoder.send(nil as Packet?)
            try drainDecoder(into: &sink)
        }
        _ = try encoder.send(nil as Frame?)
        try drainEncoder(into: &sink)
    }

    func drainDecoder(into sink: inout PacketSink) throws(PipelineError) {
        while try decoder.receive(decoded) {
            defer { decoded.unref() }
            guard !isDone, let ts = decoded.bestEffortTimestamp else { continue }
            let seconds = source.seconds(ts)
            if seconds < window.start - 0.001 { continue }
            if let end = window.end, seconds >= end - 0.001 {
                isDone = true
                continue
            }
            // libx264 refuses a pts that does not increase (two frames of a faster variable rate on one tick).
            let onGrid = av_rescale_q(ts - originTimestamp, sourceTimeBase, encoderTimeBase)
            let pts = max(onGrid, lastPts == Int64.min ? 0 : lastPts + 1)
            lastPts = pts
            var frame = decoded
            if scaler.isNeeded(for: decoded) {
                try scaler.scale(decoded, into: scaled)
                frame = scaled
            }
            if let rotator {
                try rotator.rotate(frame, into: rotated)
                frame = rotated
            }
            frame.pts = pts
            let outSeconds = Double(pts) * av_q2d(encoder.timeBase)
            // Mirrors ffmpeg's -force_key_frames expr:gte(t,n_forced*6) so every segment starts with an IDR.
            let forced = outSeconds >= nextKeyframe - 0.001
            if forced { while nextKeyframe <= outSeconds + 0.001 { nextKeyframe += options.segmentSeconds } }
            frame.setForcedKeyframe(forced)
            framesEncoded += 1
            while !(try encoder.send(frame)) { try drainEncoder(into: &sink) }
            try drainEncoder(into: &sink)
        }
    }

    private func drainEncoder(into sink: inout PacketSink) throws(PipelineError) {
        while try encoder.receive(encoded) {
            // libx264 leaves durations at 0; the HLS muxer needs them to time each segment's last frame.
            if encoded.duration <= 0 { encoded.duration = 1 }
            try sink.write(encoded, stream: 0, from: encoder.timeBase)
        }
    }
}

/// Audio: decoder → swresample to 48 kHz stereo float planar → fifo of 1024-sample frames → AAC.
final class AudioPath: StreamTranscoder {
    let decoder: CodecContext
    let encoder: CodecContext
    private let source: MediaStream
    private let window: ClipWindow
    private let decoded: Frame
    private let chunk: Frame
    private let encoded: Packet
    private var resampler: AudioResampler?
    /// Next pts in samples; set from the first kept frame so audio that starts late stays in sync.
    private var nextPts: Int64?
    private(set) var isDone = false

    init(input: InputFile, audio: MediaStream, window: ClipWindow, control: JobControl) throws(PipelineError) {
        source = audio
        self.window = window
        decoder = try CodecContext.decoder(for: audio, path: input.path, control: control)
        encoder = try CodecContext.encoder(id: AV_CODEC_ID_AAC, control: control)
        decoded = try Frame()
        chunk = try Frame()
        encoded = try Packet()
        encoder.configureAudio(sampleRate: HLSTranscode.audioSampleRate, channels: 2, bitRate: HLSTranscode.audioBitRate)
    }

    func open(globalHeader: Bool) throws(PipelineError) {
        if globalHeader { encoder.requestGlobalHeader() }
        try encoder.open()
        resampler = try AudioResampler(to: encoder)
    }

    func finish(into sink: inout PacketSink) throws(PipelineError) {
        if !isDone {
            _ = try decoder.send(nil as Packet?)
            try drainDecoder(into: &sink)
        }
        guard let resampler else { return }
        if nextPts != nil {
            try resampler.push(nil)
            try encodeBuffered(into: &sink, includingPartial: true)
        }
        _ = try encoder.send(nil as Frame?)
        try drainEncoder(into: &sink)
    }

    func drainDecoder(into sink: inout PacketSink) throws(PipelineError) {
        guard let resampler else { return }
        while try decoder.receive(decoded) {
            defer { decoded.unref() }
            guard !isDone, let ts = decoded.bestEffortTimestamp else { continue }
            let start = source.seconds(ts)
            let rate = Double(decoded.sampleRate)
            let end = rate > 0 ? start + Double(decoded.sampleCount) / rate : start
            if end <= window.start { continue }
            if let clipEnd = window.end, start >= clipEnd {
                isDone = true
                continue
            }
            if nextPts == nil {
                nextPts = max(0, Int64(((start - window.start) * Double(HLSTranscode.audioSampleRate)).rounded()))
            }
            try resampler.push(decoded)
            try encodeBuffered(into: &sink, includingPartial: false)
        }
    }

    private func encodeBuffered(into sink: inout PacketSink, includingPartial: Bool) throws(PipelineError) {
        guard let resampler, var pts = nextPts else { return }
        let frameSize = max(encoder.frameSize, 1)
        while resampler.bufferedSamples >= frameSize || (includingPartial && resampler.bufferedSamples > 0) {
            try resampler.pop(frameSize, into: chunk)
            chunk.pts = pts
            pts += Int64(chunk.sampleCount)
            while !(try encoder.send(chunk)) { try drainEncoder(into: &sink) }
            try drainEncoder(into: &sink)
        }
        nextPts = pts
    }

    private func drainEncoder(into sink: inout PacketSink) throws(PipelineError) {
        while try encoder.receive(encoded) {
            try sink.write(encoded, stream: 1, from: encoder.timeBase)
        }
    }
}

/// One stream's decode → … → encode chain, fed packet by packet.
protocol StreamTranscoder: AnyObject {
    var decoder: CodecContext { get }
    var isDone: Bool { get }
    /// Takes every frame the decoder has ready through the rest of the chain.
    func drainDecoder(into sink: inout PacketSink) throws(PipelineError)
}

extension StreamTranscoder {
    /// Feeds one packet, draining the decoder until it accepts it (or the clip has ended).
    func decode(_ packet: Packet, into sink: inout PacketSink) throws(PipelineError) {
        guard !isDone else { return }
        while true {
            let accepted = try decoder.send(packet)
            try drainDecoder(into: &sink)
            if accepted || isDone { return }
        }
    }
}
