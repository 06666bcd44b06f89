import CLibAV

/// Where the decoding thread's output goes: a reference to each decoded frame and a copy of each audio packet
/// to every encoded rung's queue, and the audio also to the stream-copied top rung, muxed right here.
final class LadderFanout {
    let copy: HLSMuxer?
    let rungs: [RungEncoder]
    private let control: JobControl
    private var progress: ProgressReporter
    /// Subtracted from output times for progress (a copy that keeps the source's timeline starts at its start time).
    private let progressOrigin: Double
    private let onOutput: () throws(PipelineError) -> Void

    init(copy: HLSMuxer?, rungs: [RungEncoder], control: JobControl, progress: ProgressReporter, progressOrigin: Double,
         onOutput: @escaping () throws(PipelineError) -> Void) {
        self.copy = copy
        self.rungs = rungs
        self.control = control
        self.progress = progress
        self.progressOrigin = progressOrigin
        self.onOutput = onOutput
    }

    /// A decoded frame, on the encoders' grid, key frame marked; `seconds` is its output time.
    func video(_ frame: Frame, seconds: Double) throws(PipelineError) {
        for rung in rungs {
            let reference = try Frame()
            try reference.takeReference(from: frame)
            try push(.video(reference), to: rung)
        }
        outputReached(seconds)
        try onOutput()
    }

    /// An audio packet (encoded once, or the source's) with timestamps already relative to the output's origin.
    func audio(_ packet: Packet, timeBase: AVRational) throws(PipelineError) {
        for rung in rungs { try push(.audio(try packet.reference()), to: rung) }
        if let copy {
            packet.rescale(from: timeBase, to: copy.timeBase(ofStream: 1))
            packet.setStreamIndex(1)
            try copy.write(packet)
        }
    }

    /// A stream-copied video packet, already rescaled to the copy muxer's time base.
    func copiedVideo(_ packet: Packet, seconds: Double) throws(PipelineError) {
        guard let copy else { return }
        try copy.write(packet)
        outputReached(seconds)
        try onOutput()
    }

    /// Tells every rung the input is over.
    func finish() throws(PipelineError) {
        for rung in rungs { try push(.end, to: rung) }
        progress.finished()
    }

    private func outputReached(_ seconds: Double) {
        progress.report(outputSeconds: seconds - progressOrigin)
    }

    private func push(_ item: RungQueue.Item, to rung: RungEncoder) throws(PipelineError) {
        if rung.queue.push(item) { return }
        try control.check()
        throw rung.error ?? .libav(step: "encode \(rung.plan.name)", reason: "the encoder thread stopped")
    }
}

extension Packet {
    /// A new packet referring to this one's data (`av_packet_ref`), with its timestamps.
    func reference() throws(PipelineError) -> Packet {
        let copy = try Packet()
        let result = av_packet_ref(copy.raw, raw)
        if result < 0 { throw .libav(step: "av_packet_ref", reason: LibAVError.message(result)) }
        return copy
    }
}
