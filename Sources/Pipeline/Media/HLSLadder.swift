import CLibAV
import Foundation

/// The bitrate ladder from one read of the input: one decode, one audio encode, every rung's libx264 encode on its
/// own thread (`RungEncoder`), and optionally the source itself as the top rung by stream copy.
///
/// The decoding thread (the caller's) reads packets; a stream-copied top rung is muxed right here, and the
/// decoded frames go through bounded queues down the chain of rung threads, tallest first. `master.m3u8` is written as soon as every rung
/// has its first segment, with nominal rates, and again at the end with the rates measured from the segments.
struct HLSLadder {
    let input: InputFile
    let video: MediaStream
    let audio: MediaStream?
    let window: ClipWindow
    let options: HLSOptions
    /// The source is the top rung by stream copy (H.264 8-bit 4:2:0, AAC or no audio, upright).
    let copyTop: Bool
    let control: JobControl

    /// How often, at most, the decoding thread looks for every rung's first segment.
    static let masterPollInterval = Duration.milliseconds(200)

    func run(outputDirectory: String) throws(PipelineError) -> HLSResult {
        input.discardAll(except: [video] + (audio.map { [$0] } ?? []))
        let upright = VideoPath.uprightSize(of: video)
        let plan = LadderPlan(sourceWidth: upright.width, sourceHeight: upright.height, ladder: options.ladder, copyTop: copyTop)
        // A copy with no rung below it (a source at or under the lowest rung) is never decoded.
        let videoPath = try plan.encoded.isEmpty ? nil : VideoPath(
            input: input, video: video, schedule: options.schedule, followSourceKeyframes: copyTop, control: control
        )
        let audioPath = try copyTop ? nil : audio.map { source throws(PipelineError) in
            try AudioPath(input: input, audio: source, window: window, bitRate: plan.audioBitRate, control: control)
        }
        try audioPath?.open(globalHeader: true)
        let rungAudio: RungAudio? = copyTop ? audio.map(RungAudio.copied) : audioPath.map { .encoded($0.encoder) }

        let topName = "\(video.height)p"
        let copy = try copyTop ? HLSMuxer(directory: "\(outputDirectory)/\(topName)", format: options.segmentFormat, control: control) : nil
        if let copy {
            try copy.addStream(copying: video.parameters, timeBase: video.timeBase, metadata: video.metadata)
            if let rungAudio { try copy.addStream(for: rungAudio) }
            try copy.writeHeader(schedule: options.schedule)
        }
        let copyRung = copy.map { CopyRung(muxer: $0, hasAudio: rungAudio != nil, control: control) }
        defer { copyRung?.abandon() }  // after `finish()`, a no-op
        copyRung?.start()
        var rungs: [RungEncoder] = []
        defer {
            for rung in rungs {
                rung.queue.close()
                _ = rung.join()
            }
        }
        if let videoPath {
            for encoded in plan.encoded {
                rungs.append(try RungEncoder(plan: encoded, directory: "\(outputDirectory)/\(encoded.name)",
                                             picture: videoPath.timing, audio: rungAudio, options: options, control: control))
            }
        }
        let variants = (copy == nil ? [] : [copyVariant(name: topName)]) + rungs.map { encodedVariant($0) }
        var master = PendingMaster(directory: outputDirectory, variants: variants, format: options.segmentFormat)
        for (rung, next) in zip(rungs, rungs.dropFirst()) { rung.next = next }
        for rung in rungs { rung.start() }

        let fanout = LadderFanout(
            copy: copyRung, chain: rungs.first, control: control,
            progress: ProgressReporter(control: control, totalSeconds: window.expectedDuration),
            progressOrigin: copyTop && !window.isClipped ? window.mediaStart : 0,
            onOutput: { () throws(PipelineError) in try master.writeWhenEveryRungHasASegment() }
        )
        let copiedVideoPackets = try read(videoPath: videoPath, audioPath: audioPath, fanout: fanout)
        try control.check()
        try videoPath?.finish(into: fanout)
        try audioPath?.finish(into: fanout)
        try control.check()
        guard (videoPath?.framesDecoded ?? copiedVideoPackets) > 0, copiedVideoPackets > 0 || !copyTop else {
            throw .unreadableMedia(path: input.path, reason: copyTop ? "no video packet could be read" : "no video frame could be decoded")
        }
        try fanout.finish()
        for rung in rungs {
            if let error = rung.join() { throw error }
        }
        try copyRung?.finish()
        return try master.finish(mode: copyTop ? HLSMode.remux : HLSMode.transcode)
    }

    /// The read loop: packets to the copy muxer and the decoders. Returns how many video packets were copied.
    private func read(videoPath: VideoPath?, audioPath: AudioPath?, fanout: LadderFanout) throws(PipelineError) -> Int {
        if window.isClipped, window.start > window.mediaStart { try input.seek(toSeconds: window.start) }
        // Where output time 0 lies. A copy must start at a key frame, so a copied clip starts at its first one; an
        // unclipped copy keeps the source's own timeline. Encoded rungs start exactly at the clip's start.
        var origin: Double? = copyTop ? (window.isClipped ? nil : 0) : window.start
        if let origin { videoPath?.setWindow(origin: origin, keepFrom: window.start, end: window.end) }
        var finished = Set<Int>()
        let streamCount = audio == nil ? 1 : 2
        var copied = 0
        let packet = try Packet()
        var gate = options.apiPressure.map(APIPressure.Gate.init)
        while finished.count < streamCount, try input.read(into: packet) {
            defer { packet.unref() }
            try control.check()
            try gate?.yieldWhileFlooded(control)
            let isVideo = packet.streamIndex == video.index
            guard isVideo || packet.streamIndex == audio?.index, !finished.contains(packet.streamIndex) else { continue }
            if origin == nil {
                // A copy must start with a key frame; audio before it would play over a black screen.
                guard isVideo, packet.isKeyframe, let t = packet.time else { continue }
                origin = video.seconds(t)
                videoPath?.setWindow(origin: origin!, keepFrom: origin!, end: window.end)
            }
            guard let origin else { continue }
            if !copyTop {
                if isVideo {
                    try videoPath?.decode(packet, into: fanout)
                    if videoPath?.isDone == true { finished.insert(packet.streamIndex) }
                } else if let audioPath {
                    try audioPath.decode(packet, into: fanout)
                    if audioPath.isDone { finished.insert(packet.streamIndex) }
                }
                continue
            }
            let stream = isVideo ? video : audio!
            guard let time = (isVideo ? packet.dts ?? packet.pts : packet.time).map(stream.seconds) else { continue }
            if window.isClipped {
                if !isVideo, time < origin { continue }
                // Decode order: every packet before the first one past the end decodes without it.
                if let end = window.end, time >= end {
                    finished.insert(packet.streamIndex)
                    continue
                }
            }
            if isVideo {
                try videoPath?.decode(packet, into: fanout)
                guard let copyRung = fanout.copy else { continue }
                packet.rescale(from: video.timeBase, to: copyRung.videoTimeBase, offset: video.timestamp(seconds: origin))
                packet.setStreamIndex(0)
                copied += 1
                try fanout.copiedVideo(packet, seconds: time - origin)
            } else {
                packet.rescale(from: stream.timeBase, to: stream.timeBase, offset: stream.timestamp(seconds: origin))
                try fanout.audio(packet, timeBase: stream.timeBase)
            }
        }
        return copied
    }

    private func copyVariant(name: String) -> MasterPlaylist.Variant {
        let parameters = video.parameters.pointee
        let extradata = parameters.extradata.map { Array(UnsafeBufferPointer(start: $0, count: Int(parameters.extradata_size))) } ?? []
        let rate = input.guessFrameRate(of: video)
        let nominal = Int(parameters.bit_rate) + Int(audio?.parameters.pointee.bit_rate ?? 0)
        return MasterPlaylist.Variant(
            name: name, width: video.width, height: video.height, bandwidth: nominal, averageBandwidth: nominal,
            codecs: codecs(video: CodecString.avc1(extradata: extradata, profile: parameters.profile, level: parameters.level)),
            frameRate: rate.num > 0 && rate.den > 0 ? av_q2d(rate) : nil
        )
    }

    private func encodedVariant(_ rung: RungEncoder) -> MasterPlaylist.Variant {
        let context = rung.encoder.raw.pointee
        let extradata = context.extradata.map { Array(UnsafeBufferPointer(start: $0, count: Int(context.extradata_size))) } ?? []
        let audioRate = audio == nil ? 0 : rung.plan.rung.audioBitRate
        return MasterPlaylist.Variant(
            name: rung.plan.name, width: rung.plan.width, height: rung.plan.height,
            bandwidth: rung.plan.rung.maxRate + audioRate, averageBandwidth: rung.plan.rung.videoBitRate + audioRate,
            codecs: codecs(video: CodecString.avc1(extradata: extradata, profile: context.profile, level: context.level)),
            frameRate: context.framerate.num > 0 && context.framerate.den > 0 ? av_q2d(context.framerate) : nil
        )
    }

    private func codecs(video avc1: String) -> String {
        guard let audio else { return avc1 }
        return avc1 + "," + CodecString.mp4a(profile: copyTop ? audio.parameters.pointee.profile : 1)
    }
}

/// The master playlist's two writes: early (nominal rates) once every rung has a segment, final (measured).
struct PendingMaster {
    let directory: String
    var variants: [MasterPlaylist.Variant]
    let format: SegmentFormat
    private var written = false
    private var lastLook: ContinuousClock.Instant?

    init(directory: String, variants: [MasterPlaylist.Variant], format: SegmentFormat) {
        self.directory = directory
        self.variants = variants
        self.format = format
    }

    /// Cheap to call per frame: looks at the rung playlists at most every `HLSLadder.masterPollInterval`.
    mutating func writeWhenEveryRungHasASegment() throws(PipelineError) {
        guard !written else { return }
        let now = ContinuousClock.now
        if let lastLook, now - lastLook < HLSLadder.masterPollInterval { return }
        lastLook = now
        var early = variants
        for i in early.indices {
            guard let rates = SegmentRates(renditionDirectory: "\(directory)/\(early[i].name)") else { return }
            early[i].bandwidth = max(early[i].bandwidth, rates.peak)
            early[i].averageBandwidth = max(early[i].averageBandwidth, rates.average)
        }
        try MasterPlaylist(variants: early, format: format).write(to: directory)
        written = true
    }

    /// Measures every rung's finished segments and writes the final master.
    mutating func finish(mode: HLSMode) throws(PipelineError) -> HLSResult {
        var renditions: [HLSRendition] = []
        var duration = 0.0
        for i in variants.indices {
            let name = variants[i].name
            guard let rates = SegmentRates(renditionDirectory: "\(directory)/\(name)") else {
                throw .libav(step: "finish HLS rendition \(name)", reason: "its playlist lists no segment")
            }
            variants[i].bandwidth = rates.peak
            variants[i].averageBandwidth = rates.average
            if i == 0 { duration = rates.seconds }
            renditions.append(HLSRendition(name: name, width: variants[i].width, height: variants[i].height,
                                           copied: mode == .remux && i == 0, peakBitRate: rates.peak, averageBitRate: rates.average))
        }
        try MasterPlaylist(variants: variants, format: format).write(to: directory)
        written = true
        return HLSResult(mode: mode, renditions: renditions, durationSeconds: duration)
    }
}
