import CLibAV

/// Where the decoding thread's output goes: a reference to each decoded frame and each audio packet to the
/// tallest encoded rung, which passes them down the chain (`RungEncoder.next`), and the audio also to the
/// stream-copied top rung, muxed on its own thread (`CopyRung`).
final class LadderFanout {
    let copy: CopyRung?
    /// The tallest encoded rung, if any.
    let chain: RungEncoder?
    private let control: JobControl
    private var progress: ProgressReporter
    /// Subtracted from output times for progress (a copy that keeps the source's timeline starts at its start time).
    private let progressOrigin: Double
    private let onOutput: () throws(PipelineError) -> Void

    init(copy: CopyRung?, chain: RungEncoder?, control: JobControl, progress: ProgressReporter, progressOrigin: Double,
         onOutput: @escaping () throws(PipelineError) -> Void) {
        self.copy = copy
        self.chain = chain
        self.control = control
        self.progress = progress
        self.progressOrigin = progressOrigin
        self.onOutput = onOutput
    }

    /// A decoded frame, on the encoders' grid, key frame marked; `seconds` is its output time.
    func video(_ frame: Frame, seconds: Double) throws(PipelineError) {
        try chain?.feed(.video(try frame.reference()))
        outputReached(seconds)
        try onOutput()
    }

    /// An audio packet (encoded once, or the source's) with timestamps already relative to the output's origin.
    func audio(_ packet: Packet, timeBase: AVRational) throws(PipelineError) {
        try chain?.feed(.audio(try packet.reference()))
        if let copy {
            guard let audioTimeBase = copy.audioTimeBase else { return }
            packet.rescale(from: timeBase, to: audioTimeBase)
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
        try chain?.feed(.end)
        progress.finished()
    }

    private func outputReached(_ seconds: Double) {
        progress.report(outputSeconds: seconds - progressOrigin)
    }
}

extension Frame {
    /// A new frame referring to this one's buffers (`av_frame_ref`), with its properties (pts, picture type).
    func reference() throws(PipelineError) -> Frame {
        let copy = try Frame()
        try copy.takeReference(from: self)
        return copy
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
