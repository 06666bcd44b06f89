import CLibAV

/// The audio every rung carries: the one shared AAC encode, or the source's AAC by stream copy.
enum RungAudio {
    case encoded(CodecContext)
    case copied(MediaStream)

    var timeBase: AVRational {
        switch self {
        case .encoded(let encoder): encoder.timeBase
        case .copied(let stream): stream.timeBase
        }
    }
}

extension HLSMuxer {
    func addStream(for audio: RungAudio) throws(PipelineError) {
        switch audio {
        case .encoded(let encoder): try addStream(encodedBy: encoder)
        case .copied(let stream): try addStream(copying: stream.parameters, timeBase: stream.timeBase, metadata: stream.metadata)
        }
    }
}

/// One encoded rung on a thread of its own: frames from its `RungQueue` → swscale to the rung's size →
/// libx264 (VBV) → its own HLS muxer, with the shared audio packets muxed beside. Key frames are whatever the
/// decoding thread marked (`pict_type` I, forced IDR), the same for every rung, and scene-cut detection is off,
/// so segments of all rungs start at the same times.
///
/// The rungs form a chain, tallest first: each passes the decoded frames it got (references, not copies) and the
/// audio packets on to `next`, and every rung scales from the source picture. Scaling 480p from 720p and 360p from
/// 480p (as this did before) took about 3 % less CPU of the whole ladder but blurred their chroma: SSIM 0.99697 and
/// 0.99668 against the ffmpeg CLI's 0.99720 and 0.99740 on 10 s of 1080p (see README, Performance).
///
/// `@unchecked Sendable`: after `start()` only the rung's thread touches the codec, scaler and muxer; the
/// decoding thread only pushes to `queue` and, after `join()`, reads the results.
final class RungEncoder: @unchecked Sendable {
    let plan: LadderPlan.Encoded
    /// 4 items (a few frames and audio packets): 5 MiB less peak RSS than 8 on a 1080p rung, and as fast.
    var queue: RungQueue { worker.queue }
    private let worker: QueueThread<RungItem>
    let encoder: CodecContext
    let muxer: HLSMuxer
    private let scaler: Scaler
    private let audio: RungAudio?
    private let control: JobControl
    private let scaled: Frame
    private let encoded: Packet
    /// The next shorter rung, fed by this one; set before `start()`.
    var next: RungEncoder?

    /// Opens the encoder and writes the muxer header here, on the calling thread: libx264's own worker threads
    /// start in `avcodec_open2` and take this thread's name and priority.
    init(plan: LadderPlan.Encoded, directory: String, picture: VideoTiming, audio: RungAudio?,
         options: HLSOptions, control: JobControl) throws(PipelineError) {
        self.plan = plan
        self.audio = audio
        self.control = control
        worker = QueueThread(queue: RungQueue(capacity: 4), control: control, step: "encode \(plan.name)")
        scaler = Scaler(width: plan.width, height: plan.height, format: AV_PIX_FMT_YUV420P)
        scaled = try Frame()
        encoded = try Packet()
        encoder = try CodecContext.encoder(named: "libx264", control: control)
        encoder.configureVideo(
            width: plan.width, height: plan.height, timeBase: picture.encoderTimeBase, frameRate: picture.frameRate,
            sampleAspectRatio: picture.sampleAspectRatio, gopSize: picture.gopSize
        )
        encoder.configureRate(bitRate: plan.rung.videoBitRate, maxRate: plan.rung.maxRate, bufferSize: plan.rung.maxRate * 2)
        muxer = try HLSMuxer(directory: directory, format: options.segmentFormat, control: control)
        if muxer.needsGlobalHeader { encoder.requestGlobalHeader() }
        try encoder.open(options: LibAVOptions([
            ("preset", options.x264Preset),
            ("profile", "high"),
            ("forced-idr", "1"),
            ("sc_threshold", "0"),
        ]))
        try muxer.addStream(encodedBy: encoder)
        if let audio { try muxer.addStream(for: audio) }
        try muxer.writeHeader(schedule: options.schedule)
    }

    func start() { worker.start { [self] () throws(PipelineError) in try run() } }

    /// Waits for the thread; the error it stopped with, if any.
    func join() -> PipelineError? { worker.join() }

    /// Hands an item to this rung's thread, waiting while its queue is full; throws why the rung stopped, if it did.
    func feed(_ item: RungItem) throws(PipelineError) { try worker.feed(item) }

    private func run() throws(PipelineError) {
        while let item = queue.pop() {
            switch item {
            case .video(let frame):
                try control.check()
                var input = frame
                if scaler.isNeeded(for: frame) {
                    try scaler.scale(frame, into: scaled)
                    scaled.raw.pointee.pict_type = frame.raw.pointee.pict_type
                    input = scaled
                }
                try next?.feed(.video(try frame.reference()))
                while !(try encoder.send(input)) { try drainEncoder() }
                try drainEncoder()
            case .audio(let packet):
                guard let audio else { continue }
                try next?.feed(.audio(try packet.reference()))
                packet.rescale(from: audio.timeBase, to: muxer.timeBase(ofStream: 1))
                packet.setStreamIndex(1)
                try muxer.write(packet)
            case .end:
                try next?.feed(.end)
                _ = try encoder.send(nil as Frame?)
                try drainEncoder()
                try muxer.finish()
                return
            }
        }
        // Closed without an end: the conversion was abandoned.
        try control.check()
    }

    private func drainEncoder() throws(PipelineError) {
        while try encoder.receive(encoded) {
            // libx264 leaves durations at 0; the HLS muxer needs them to time each segment's last frame.
            if encoded.duration <= 0 { encoded.duration = 1 }
            encoded.rescale(from: encoder.timeBase, to: muxer.timeBase(ofStream: 0))
            encoded.setStreamIndex(0)
            try muxer.write(encoded)
        }
    }
}
