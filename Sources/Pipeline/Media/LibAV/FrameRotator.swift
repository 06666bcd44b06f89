import CLibAV

/// Turns yuv420p frames by a quarter or half turn, for videos whose display matrix says so (phones record
/// portrait video as landscape frames plus a rotation). MPEG-TS has no way to carry that matrix, so the pixels
/// themselves must be turned; libavfilter's transpose would do it, but this is all we need of it.
final class FrameRotator {
    /// Clockwise degrees: 90, 180 or 270.
    let degrees: Int

    init(degrees: Int) {
        self.degrees = degrees
    }

    /// Output size for an input of `width` × `height`.
    func rotatedSize(width: Int, height: Int) -> (width: Int, height: Int) {
        degrees == 180 ? (width, height) : (height, width)
    }

    /// Writes `source` (yuv420p, even size) turned into `destination` (its buffer reused when free,
    /// `Frame.prepareBuffer`) and carries over its pts.
    func rotate(_ source: Frame, into destination: Frame) throws(PipelineError) {
        guard AVPixelFormat(source.format) == AV_PIX_FMT_YUV420P else {
            throw .libav(step: "rotate frame", reason: "expected yuv420p, got pixel format \(source.format)")
        }
        let size = rotatedSize(width: source.width, height: source.height)
        try destination.prepareBuffer(
            width: size.width, height: size.height, format: AV_PIX_FMT_YUV420P, step: "allocate rotated frame"
        )
        let src = source.raw.pointee, dst = destination.raw.pointee
        let planes = [
            (src.data.0, Int(src.linesize.0), dst.data.0, Int(dst.linesize.0), source.width, source.height),
            (src.data.1, Int(src.linesize.1), dst.data.1, Int(dst.linesize.1), source.width / 2, source.height / 2),
            (src.data.2, Int(src.linesize.2), dst.data.2, Int(dst.linesize.2), source.width / 2, source.height / 2),
        ]
        for (from, fromStride, to, toStride, width, height) in planes {
            guard let from, let to else { throw .libav(step: "rotate frame", reason: "missing plane") }
            turn(from, stride: fromStride, width: width, height: height, into: to, stride: toStride)
        }
        destination.pts = source.pts
        destination.raw.pointee.sample_aspect_ratio = source.raw.pointee.sample_aspect_ratio
    }

    /// One plane of `width` × `height` source pixels. A 1080p frame takes about 5 ms (release build, measured);
    /// 32×32 tiling measured no faster, the prefetcher copes with the column walk.
    private func turn(
        _ from: UnsafeMutablePointer<UInt8>, stride fromStride: Int, width: Int, height: Int,
        into to: UnsafeMutablePointer<UInt8>, stride toStride: Int
    ) {
        switch degrees {
        case 90: // destination is height × width; its row y is source column y, read bottom-up.
            for y in 0..<width {
                let row = to + y * toStride
                for x in 0..<height { row[x] = from[(height - 1 - x) * fromStride + y] }
            }
        case 270: // destination row y is source column (width - 1 - y), read top-down.
            for y in 0..<width {
                let row = to + y * toStride
                let column = width - 1 - y
                for x in 0..<height { row[x] = from[x * fromStride + column] }
            }
        default: // 180
            for y in 0..<height {
                let row = to + y * toStride
                let source = from + (height - 1 - y) * fromStride
                for x in 0..<width { row[x] = source[width - 1 - x] }
            }
        }
    }
}

extension MediaStream {
    /// Clockwise degrees (0, 90, 180, 270) the decoded picture must be turned for display, from the stream's
    /// display matrix, rounded as the ffmpeg CLI's autorotate does. Mirrored matrices count as their rotation.
    var displayRotation: Int {
        var size = 0
        guard let data = inboxd_stream_display_matrix(raw, &size), size >= 9 * 4 else { return 0 }
        let angle = av_display_rotation_get(UnsafeRawPointer(data).assumingMemoryBound(to: Int32.self))
        guard angle.isFinite else { return 0 }
        var theta = -angle.rounded()
        theta -= 360 * (theta / 360 + 0.9 / 360).rounded(.down)
        return (Int((theta / 90).rounded()) * 90) % 360
    }
}
