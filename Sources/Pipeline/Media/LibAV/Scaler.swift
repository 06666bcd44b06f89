import CLibAV

/// swscale from whatever the decoder gives to a fixed size and pixel format. The context is cached and
/// rebuilt only when the input's size or format changes mid-stream.
final class Scaler {
    let width: Int
    let height: Int
    let format: AVPixelFormat
    /// Full-range (JPEG) output, for the MJPEG encoder.
    let fullRange: Bool
    private var context: OpaquePointer?

    init(width: Int, height: Int, format: AVPixelFormat, fullRange: Bool = false) {
        self.width = width
        self.height = height
        self.format = format
        self.fullRange = fullRange
    }

    deinit { sws_freeContext(context) }

    /// Whether `frame` can go to the encoder as it is.
    func isNeeded(for frame: Frame) -> Bool {
        frame.width != width || frame.height != height || frame.format != format.rawValue
            || (fullRange && !frame.isFullRange)
    }

    /// Scales `source` into `destination` (its buffer reused when free, `Frame.prepareBuffer`) and carries over its pts.
    func scale(_ source: Frame, into destination: Frame) throws(PipelineError) {
        context = sws_getCachedContext(
            context, Int32(source.width), Int32(source.height), AVPixelFormat(source.format),
            Int32(width), Int32(height), format, SWS_BICUBIC, nil, nil, nil
        )
        guard let context else {
            throw .libav(step: "swscale setup", reason: "cannot convert \(source.width)x\(source.height) pixel format \(source.format)")
        }
        if fullRange || source.isFullRange { setRanges(context, sourceFull: source.isFullRange) }
        try destination.prepareBuffer(width: width, height: height, format: format, step: "allocate scaled frame")
        destination.raw.pointee.color_range = fullRange ? AVCOL_RANGE_JPEG : AVCOL_RANGE_MPEG
        let result = sws_scale_frame(context, destination.raw, source.raw)
        if result < 0 { throw .libav(step: "swscale", reason: LibAVError.message(result)) }
        destination.pts = source.pts
    }

    private func setRanges(_ context: OpaquePointer, sourceFull: Bool) {
        var invTable: UnsafeMutablePointer<Int32>?
        var table: UnsafeMutablePointer<Int32>?
        var srcRange: Int32 = 0, dstRange: Int32 = 0, brightness: Int32 = 0, contrast: Int32 = 0, saturation: Int32 = 0
        guard sws_getColorspaceDetails(
            context, &invTable, &srcRange, &table, &dstRange, &brightness, &contrast, &saturation
        ) >= 0 else { return }
        _ = sws_setColorspaceDetails(
            context, invTable, sourceFull ? 1 : 0, table, fullRange ? 1 : 0, brightness, contrast, saturation
        )
    }
}
