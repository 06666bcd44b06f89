import CLibAV
import Foundation

/// An opened media file (AVFormatContext for reading) with its stream info read. Closed in deinit.
final class InputFile {
    let path: String
    private let context: UnsafeMutablePointer<AVFormatContext>
    private let control: JobControl?

    /// Opens `path` and reads stream info. Every failure is `.unreadableMedia` naming the file, or `.cancelled`.
    init(path: String, control: JobControl?) throws(PipelineError) {
        self.path = path
        self.control = control
        try Self.checkRegularFile(path)
        guard let ic = avformat_alloc_context() else {
            throw .libav(step: "avformat_alloc_context", reason: "out of memory")
        }
        if let control { ic.pointee.interrupt_callback = Interrupt.callback(for: control) }
        var optional: UnsafeMutablePointer<AVFormatContext>? = ic
        // Local files only, also for anything the demuxer opens on its own (an HLS playlist's segment URLs):
        // a dropped file must never make the daemon fetch from the network.
        let options = LibAVOptions([("protocol_whitelist", "file")])
        // On failure avformat_open_input frees the context and sets it to NULL.
        let opened = avformat_open_input(&optional, path, nil, &options.raw)
        guard opened >= 0, let optional else {
            if let control, control.isCancelled { throw .cancelled(reason: control.cancelReason ?? "cancelled") }
            throw .unreadableMedia(path: path, reason: LibAVError.message(opened))
        }
        context = optional
        try options.requireAllConsumed(by: "open \(path)")
        if Self.referencingFormats.contains(formatName) {
            throw .unreadableMedia(
                path: path, reason: "\(formatName) files name other files or URLs to read and are not accepted as media"
            )
        }
        let info = avformat_find_stream_info(optional, nil)
        if info < 0 {
            if let control, control.isCancelled { throw .cancelled(reason: control.cancelReason ?? "cancelled") }
            throw .unreadableMedia(path: path, reason: "cannot read stream info: \(LibAVError.message(info))")
        }
    }

    /// Demuxers whose input is a list of other files or URLs (playlists, concat lists, session descriptions).
    private static let referencingFormats: Set<String> = ["hls", "concat", "dash", "sdp", "rtsp", "rtp"]

    deinit {
        var ic: UnsafeMutablePointer<AVFormatContext>? = context
        avformat_close_input(&ic)
    }

    /// libav would report a directory or an empty file as a generic I/O or "invalid data" error; say what it is.
    private static func checkRegularFile(_ path: String) throws(PipelineError) {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw .unreadableMedia(path: path, reason: String(cString: strerror(errno)))
        }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw .unreadableMedia(path: path, reason: "is a directory, not a media file") }
        if (st.st_mode & S_IFMT) != S_IFREG { throw .unreadableMedia(path: path, reason: "not a regular file") }
        if st.st_size == 0 { throw .unreadableMedia(path: path, reason: "file is empty (0 bytes)") }
    }

    var formatName: String {
        guard let name = context.pointee.iformat?.pointee.name else { return "unknown" }
        return String(cString: name)
    }

    var streams: [MediaStream] {
        guard let streams = context.pointee.streams else { return [] }
        return (0..<Int(context.pointee.nb_streams)).compactMap { i in streams[i].map(MediaStream.init) }
    }

    /// Container duration, else the longest stream's; nil when neither is known (e.g. a still image).
    var durationSeconds: Double? {
        if context.pointee.duration != inboxd_AV_NOPTS_VALUE, context.pointee.duration > 0 {
            return Double(context.pointee.duration) / Double(AV_TIME_BASE)
        }
        let longest = streams.compactMap(\.durationSeconds).max()
        return longest.flatMap { $0 > 0 ? $0 : nil }
    }

    /// Start time of the container in seconds (often 0; MPEG-TS starts at 1.4 s or anywhere).
    var startSeconds: Double {
        context.pointee.start_time == inboxd_AV_NOPTS_VALUE ? 0 : Double(context.pointee.start_time) / Double(AV_TIME_BASE)
    }

    /// The main picture: the largest video stream that is not cover art (`AV_DISPOSITION_ATTACHED_PIC`).
    var bestVideoStream: MediaStream? {
        streams.filter { $0.mediaType == AVMEDIA_TYPE_VIDEO && !$0.isAttachedPicture && $0.width > 0 }
            .max { $0.width * $0.height < $1.width * $1.height }
    }

    var bestAudioStream: MediaStream? {
        let index = av_find_best_stream(context, AVMEDIA_TYPE_AUDIO, -1, Int32(bestVideoStream?.index ?? -1), nil, 0)
        guard index >= 0 else { return nil }
        return streams.first { $0.index == Int(index) }
    }

    /// Makes the demuxer drop packets of every stream except `keep`.
    func discardAll(except keep: [MediaStream]) {
        let kept = Set(keep.map(\.index))
        for stream in streams where !kept.contains(stream.index) { stream.discard() }
    }

    /// Seeks to the keyframe at or before `seconds` (absolute container time).
    func seek(toSeconds seconds: Double) throws(PipelineError) {
        let target = Int64(seconds * Double(AV_TIME_BASE))
        let result = avformat_seek_file(context, -1, Int64.min, target, target, 0)
        if result < 0 { throw failure(result, step: "seek to \(seconds) s in \(path)") }
    }

    /// Reads the next packet into `packet`; false at end of file.
    func read(into packet: Packet) throws(PipelineError) -> Bool {
        let result = av_read_frame(context, packet.raw)
        if result == LibAVError.endOfFile { return false }
        if result < 0 { throw failure(result, step: "read \(path)") }
        return true
    }

    /// The error for a failed call: `.cancelled` when the interrupt callback stopped it, else libav's message.
    private func failure(_ code: Int32, step: String) -> PipelineError {
        if let control, control.isCancelled { return .cancelled(reason: control.cancelReason ?? "cancelled") }
        return .libav(step: step, reason: LibAVError.message(code))
    }
}

/// A non-owning view of one AVStream; valid while its `InputFile` or `HLSMuxer` lives.
struct MediaStream {
    let raw: UnsafeMutablePointer<AVStream>

    var index: Int { Int(raw.pointee.index) }
    var timeBase: AVRational { raw.pointee.time_base }
    var parameters: UnsafeMutablePointer<AVCodecParameters> { raw.pointee.codecpar }
    var mediaType: AVMediaType { raw.pointee.codecpar.pointee.codec_type }
    var codecID: AVCodecID { raw.pointee.codecpar.pointee.codec_id }
    var codecName: String { String(cString: avcodec_get_name(codecID)) }
    var width: Int { Int(raw.pointee.codecpar.pointee.width) }
    var height: Int { Int(raw.pointee.codecpar.pointee.height) }
    var pixelFormat: AVPixelFormat { AVPixelFormat(raw.pointee.codecpar.pointee.format) }
    var isAttachedPicture: Bool { raw.pointee.disposition & AV_DISPOSITION_ATTACHED_PIC != 0 }
    var metadata: OpaquePointer? { raw.pointee.metadata }

    var durationSeconds: Double? {
        raw.pointee.duration == inboxd_AV_NOPTS_VALUE ? nil : Double(raw.pointee.duration) * av_q2d(timeBase)
    }

    func seconds(_ ts: Int64) -> Double { Double(ts) * av_q2d(timeBase) }
    func timestamp(seconds: Double) -> Int64 { Int64((seconds / av_q2d(timeBase)).rounded()) }

    /// Timestamp of the indexed keyframe at or before `ts`, when the demuxer has an index (MP4 does, MPEG-TS not).
    func indexedKeyframe(atOrBefore ts: Int64) -> Int64? {
        let i = av_index_search_timestamp(raw, ts, AVSEEK_FLAG_BACKWARD)
        guard i >= 0, let entry = avformat_index_get_entry(raw, i) else { return nil }
        return entry.pointee.timestamp
    }

    func discard() { raw.pointee.discard = AVDISCARD_ALL }
}

extension InputFile {
    /// libav's guess of a stream's frame rate (from r_frame_rate / avg_frame_rate); 0/0 when unknown.
    func guessFrameRate(of stream: MediaStream) -> AVRational {
        av_guess_frame_rate(context, stream.raw, nil)
    }
}
