import CLibAV

/// Stream copy of H.264 (+ AAC) into HLS: packets are only re-timed, never decoded.
struct HLSRemux {
    let input: InputFile
    let video: MediaStream
    let audio: MediaStream?
    let window: ClipWindow
    let segmentSeconds: Double
    let control: JobControl

    func run(outputDirectory: String) throws(PipelineError) -> HLSResult {
        let sources = [video] + (audio.map { [$0] } ?? [])
        input.discardAll(except: sources)
        let muxer = try HLSMuxer(directory: outputDirectory, control: control)
        for source in sources {
            try muxer.addStream(copying: source.parameters, timeBase: source.timeBase, metadata: source.metadata)
        }
        let rendition = "\(video.height)p"
        try muxer.writeHeader(rendition: rendition, hasAudio: audio != nil, segmentSeconds: segmentSeconds)
        let outputIndex = Dictionary(uniqueKeysWithValues: sources.enumerated().map { ($1.index, $0) })

        if window.isClipped, window.start > window.mediaStart { try input.seek(toSeconds: window.start) }
        // Where output time 0 lies: the clip's first keyframe, or the media's own timeline when not clipped.
        var origin: Double? = window.isClipped ? nil : 0
        var finished = Set<Int>()
        var span = OutputSpan()
        var videoPackets = 0
        var progress = ProgressReporter(control: control, totalSeconds: window.expectedDuration)
        let packet = try Packet()

        while finished.count < sources.count, try input.read(into: packet) {
            defer { packet.unref() }
            try control.check()
            guard let out = outputIndex[packet.streamIndex], !finished.contains(out) else { continue }
            let source = sources[out]
            let isVideo = source.index == video.index
            if origin == nil {
                // A copy must start with a keyframe; audio before it would play over a black screen.
                guard isVideo, packet.isKeyframe, let t = packet.time else { continue }
                origin = source.seconds(t)
            }
            guard let origin, let time = (isVideo ? packet.dts ?? packet.pts : packet.time).map(source.seconds) else {
                continue
            }
            if window.isClipped {
                if !isVideo, time < origin { continue }
                // Decode order: every packet before the first one past the end decodes without it.
                if let end = window.end, time >= end {
                    finished.insert(out)
                    continue
                }
            }
            let outTimeBase = muxer.timeBase(ofStream: out)
            packet.rescale(from: source.timeBase, to: outTimeBase, offset: source.timestamp(seconds: origin))
            packet.setStreamIndex(out)
            if isVideo { videoPackets += 1 }
            span.add(packet: packet, timeBase: outTimeBase)
            progress.report(outputSeconds: span.end - (window.isClipped ? 0 : window.mediaStart))
            try muxer.write(packet)
        }
        try control.check()
        guard videoPackets > 0 else { throw .unreadableMedia(path: input.path, reason: "no video packet could be read") }
        try muxer.finish()
        progress.finished()
        return HLSResult(mode: .remux, rendition: rendition, durationSeconds: span.duration)
    }
}

/// The time range covered by the packets written, for `HLSResult.durationSeconds`.
struct OutputSpan {
    private(set) var start = Double.infinity
    private(set) var end = -Double.infinity

    mutating func add(packet: Packet, timeBase: AVRational) {
        guard let pts = packet.pts else { return }
        let t = Double(pts) * av_q2d(timeBase)
        start = min(start, t)
        end = max(end, t + Double(packet.duration) * av_q2d(timeBase))
    }

    var duration: Double { end > start ? end - start : 0 }
}
