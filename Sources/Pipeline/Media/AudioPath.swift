import CLibAV

/// Audio, one encode for every rung: decoder → swresample to 48 kHz stereo float planar → fifo of 1024-sample
/// frames → AAC → `LadderFanout`.
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

    static let sampleRate: Int32 = 48_000

    init(input: InputFile, audio: MediaStream, window: ClipWindow, bitRate: Int, control: JobControl) throws(PipelineError) {
        source = audio
        self.window = window
        decoder = try CodecContext.decoder(for: audio, path: input.path, control: control)
        encoder = try CodecContext.encoder(id: AV_CODEC_ID_AAC, control: control)
        decoded = try Frame()
        chunk = try Frame()
        encoded = try Packet()
        encoder.configureAudio(sampleRate: Self.sampleRate, channels: 2, bitRate: bitRate)
    }

    func open(globalHeader: Bool) throws(PipelineError) {
        if globalHeader { encoder.requestGlobalHeader() }
        try encoder.open()
        resampler = try AudioResampler(to: encoder)
    }

    func finish(into fanout: LadderFanout) throws(PipelineError) {
        if !isDone {
            _ = try decoder.send(nil as Packet?)
            try drainDecoder(into: fanout)
        }
        guard let resampler else { return }
        if nextPts != nil {
            try resampler.push(nil)
            try encodeBuffered(into: fanout, includingPartial: true)
        }
        _ = try encoder.send(nil as Frame?)
        try drainEncoder(into: fanout)
    }

    func drainDecoder(into fanout: LadderFanout) throws(PipelineError) {
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
                nextPts = max(0, Int64(((start - window.start) * Double(Self.sampleRate)).rounded()))
            }
            try resampler.push(decoded)
            try encodeBuffered(into: fanout, includingPartial: false)
        }
    }

    private func encodeBuffered(into fanout: LadderFanout, includingPartial: Bool) throws(PipelineError) {
        guard let resampler, var pts = nextPts else { return }
        let frameSize = max(encoder.frameSize, 1)
        while resampler.bufferedSamples >= frameSize || (includingPartial && resampler.bufferedSamples > 0) {
            try resampler.pop(frameSize, into: chunk)
            chunk.pts = pts
            pts += Int64(chunk.sampleCount)
            while !(try encoder.send(chunk)) { try drainEncoder(into: fanout) }
            try drainEncoder(into: fanout)
        }
        nextPts = pts
    }

    private func drainEncoder(into fanout: LadderFanout) throws(PipelineError) {
        while try encoder.receive(encoded) {
            try fanout.audio(encoded, timeBase: encoder.timeBase)
        }
    }
}
