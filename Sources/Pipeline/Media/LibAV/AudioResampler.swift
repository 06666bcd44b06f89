import CLibAV

/// swresample to the encoder's rate/layout/format, feeding an AVAudioFifo so the AAC encoder always gets
/// exactly `frame_size` (1024) samples; the native AAC encoder rejects any other size except for the last frame.
final class AudioResampler {
    private var swr: OpaquePointer?
    private let fifo: OpaquePointer
    private let sampleRate: Int32
    private let format: AVSampleFormat
    private var layout = AVChannelLayout()
    private let converted: Frame

    init(to encoder: CodecContext) throws(PipelineError) {
        // The frame first: `deinit` does not run for a half-initialised object, so nothing allocated by hand may
        // exist yet when a throwing step fails.
        converted = try Frame()
        sampleRate = encoder.raw.pointee.sample_rate
        format = encoder.raw.pointee.sample_fmt
        av_channel_layout_copy(&layout, &encoder.raw.pointee.ch_layout)
        guard let fifo = av_audio_fifo_alloc(format, layout.nb_channels, 4096) else {
            av_channel_layout_uninit(&layout)
            throw .libav(step: "av_audio_fifo_alloc", reason: "out of memory")
        }
        self.fifo = fifo
    }

    deinit {
        swr_free(&swr)
        av_audio_fifo_free(fifo)
        av_channel_layout_uninit(&layout)
    }

    var bufferedSamples: Int { Int(av_audio_fifo_size(fifo)) }

    /// Converts a decoded frame (nil flushes the resampler) and appends the result to the fifo.
    func push(_ frame: Frame?) throws(PipelineError) {
        if swr == nil {
            guard let frame else { return }
            let result = swr_alloc_set_opts2(
                &swr, &layout, format, sampleRate,
                &frame.raw.pointee.ch_layout, AVSampleFormat(frame.format), frame.raw.pointee.sample_rate, 0, nil
            )
            if result < 0 { throw .libav(step: "swresample setup", reason: LibAVError.message(result)) }
            let initialised = swr_init(swr)
            if initialised < 0 { throw .libav(step: "swresample setup", reason: LibAVError.message(initialised)) }
        }
        converted.unref()
        av_channel_layout_copy(&converted.raw.pointee.ch_layout, &layout)
        converted.raw.pointee.sample_rate = sampleRate
        converted.raw.pointee.format = format.rawValue
        let result = swr_convert_frame(swr, converted.raw, frame?.raw)
        if result < 0 { throw .libav(step: "swresample", reason: LibAVError.message(result)) }
        guard converted.sampleCount > 0, let data = converted.raw.pointee.extended_data else { return }
        let planes = UnsafeMutableRawPointer(data).assumingMemoryBound(to: UnsafeMutableRawPointer?.self)
        let written = av_audio_fifo_write(fifo, planes, Int32(converted.sampleCount))
        if written < converted.sampleCount { throw .libav(step: "audio fifo write", reason: LibAVError.message(written)) }
    }

    /// Takes up to `count` samples from the fifo into `frame` (allocated here).
    func pop(_ count: Int, into frame: Frame) throws(PipelineError) {
        frame.unref()
        let n = min(count, bufferedSamples)
        frame.raw.pointee.nb_samples = Int32(n)
        av_channel_layout_copy(&frame.raw.pointee.ch_layout, &layout)
        frame.raw.pointee.sample_rate = sampleRate
        frame.raw.pointee.format = format.rawValue
        let allocated = av_frame_get_buffer(frame.raw, 0)
        if allocated < 0 { throw .libav(step: "allocate audio frame", reason: LibAVError.message(allocated)) }
        guard let data = frame.raw.pointee.extended_data else {
            throw .libav(step: "allocate audio frame", reason: "no sample buffers")
        }
        let planes = UnsafeMutableRawPointer(data).assumingMemoryBound(to: UnsafeMutableRawPointer?.self)
        let read = av_audio_fifo_read(fifo, planes, Int32(n))
        if read < n { throw .libav(step: "audio fifo read", reason: LibAVError.message(read)) }
    }
}
