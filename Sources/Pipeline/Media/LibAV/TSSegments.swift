import CLibAV
import Foundation

/// The MPEG-TS segments of one rendition, cut the way libav's "hls" muxer cuts them, written by one "mpegts" muxer
/// context whose output (`pb`) moves from segment file to segment file (`HLSMuxer`).
///
/// - Packets are interleaved by dts here (at most `maxInterleaveSeconds` apart when a stream goes quiet), so every
///   cut decision sees the packets in the order they are written, as the "hls" muxer's do.
/// - A segment ends before a video key frame whose pts is at least the segment's end in the `SegmentSchedule` past
///   the rendition's first packet (uniform: n × `segment_seconds`, n: segments so far); the TS muxer's buffered
///   audio is flushed into it first, the next segment starts with PAT/PMT again (`resend_headers`), continuity
///   counters go on across segments.
/// - Segments are written as `seg_NNNNN.ts.tmp` and renamed when complete; then `index.m3u8` (EVENT) is replaced
///   whole. `#EXTINF` is the video pts span of the segment (the last one's runs to its last frame's end).
struct TSSegments {
    enum Failure: Error {
        case libav(Int32)
        case pipeline(PipelineError)
    }

    static let maxInterleaveSeconds = 10.0

    let directory: String
    let schedule: SegmentSchedule
    private let control: JobControl
    private var queues: [[Packet]]
    /// Output time base of the streams (the TS muxer's 1/90000), read once the header is written.
    private var timeBases: [AVRational] = []
    /// Whether stream 0 is video (the stream whose key frames cut segments), read with the time bases.
    private var cutsOnStreamZero = false
    /// Where the rendition starts, which segment ends are counted from: the first packet's pts, or the first video
    /// packet's when that is earlier than a first audio packet's (libav's "hls" muxer's `start_pts`).
    private var firstPts: Int64?
    private var firstPtsFromVideo = false
    private var segmentStart: Int64?
    private var videoEnd: Int64?
    private var packetsInSegment = 0
    private var durations: [Double] = []
    private var isOpen = false

    init(directory: String, schedule: SegmentSchedule, streamCount: Int, control: JobControl) {
        self.directory = directory
        self.schedule = schedule
        self.control = control
        queues = Array(repeating: [], count: streamCount)
    }

    private var index: Int { durations.count }
    private func segmentName(_ i: Int) -> String { String(format: "seg_%05d.ts", i) }
    private var segmentPath: String { "\(directory)/\(segmentName(index))" }

    /// Opens the first segment (before the TS muxer's header, which needs its output).
    mutating func open(_ context: UnsafeMutablePointer<AVFormatContext>) throws(PipelineError) {
        var pb: UnsafeMutablePointer<AVIOContext>?
        var callback = Interrupt.callback(for: control)
        let result = avio_open2(&pb, segmentPath + ".tmp", AVIO_FLAG_WRITE, &callback, nil)
        if result < 0 {
            if result == inboxd_AVERROR(ENOSPC) || result == inboxd_AVERROR(EDQUOT) { throw .noSpace(path: directory) }
            throw .libav(step: "open HLS segment \(segmentPath).tmp", reason: LibAVError.message(result))
        }
        context.pointee.pb = pb
        isOpen = true
    }

    /// Takes the packet's data (it is left blank) and writes what the interleaving lets through.
    mutating func write(_ packet: Packet, to context: UnsafeMutablePointer<AVFormatContext>) throws(Failure) {
        if timeBases.isEmpty {
            timeBases = (0..<queues.count).map { context.pointee.streams[$0]!.pointee.time_base }
            cutsOnStreamZero = queues.count > 0 && context.pointee.streams[0]!.pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_VIDEO
        }
        let held: Packet
        do { held = try Packet() } catch { throw .pipeline(error) }
        av_packet_move_ref(held.raw, packet.raw)
        let stream = held.streamIndex
        guard queues.indices.contains(stream) else { return }
        queues[stream].append(held)
        let newest = (held.dts ?? held.pts).map { Double($0) * av_q2d(timeBases[stream]) }
        while let next = nextInterleaved(newestSeconds: newest, draining: false) {
            try emit(next, to: context)
        }
    }

    /// Writes what is queued, the last segment and the finished (VOD) playlist.
    mutating func finish(_ context: UnsafeMutablePointer<AVFormatContext>) throws(Failure) {
        while let next = nextInterleaved(newestSeconds: nil, draining: true) {
            try emit(next, to: context)
        }
        let result = av_write_trailer(context)
        if result < 0 { throw .libav(result) }
        let tb = timeBases.first ?? inboxd_AV_TIME_BASE_Q()
        let span = (videoEnd ?? 0) - (segmentStart ?? 0)
        try closeSegment(context, keep: packetsInSegment > 0, seconds: Double(max(span, 0)) * av_q2d(tb))
        try writePlaylist(ended: true)
    }

    /// Closes the open segment file after a failure (its `.tmp` stays, as libav's "hls" muxer leaves it).
    mutating func abandon(_ context: UnsafeMutablePointer<AVFormatContext>) {
        if isOpen { avio_closep(&context.pointee.pb) }
        isOpen = false
        queues = queues.map { _ in [] }
    }

    /// The queued packet with the lowest dts once every stream has one queued (or, draining, at all); also the
    /// lowest one when it lies more than `maxInterleaveSeconds` before the newest packet (a stream gone quiet). A
    /// packet without timestamps goes at once.
    private mutating func nextInterleaved(newestSeconds: Double?, draining: Bool) -> Packet? {
        var best: (stream: Int, seconds: Double)?
        var everyStreamWaiting = true
        for (stream, queue) in queues.enumerated() {
            guard let head = queue.first else {
                everyStreamWaiting = false
                continue
            }
            guard let dts = head.dts ?? head.pts else { return queues[stream].removeFirst() }
            let seconds = Double(dts) * av_q2d(timeBases[stream])
            if let b = best, seconds >= b.seconds { continue }
            best = (stream, seconds)
        }
        guard let best else { return nil }
        if everyStreamWaiting || draining { return queues[best.stream].removeFirst() }
        guard let newestSeconds, newestSeconds - best.seconds > Self.maxInterleaveSeconds else { return nil }
        return queues[best.stream].removeFirst()
    }

    /// Writes one packet in interleaved order, cutting a segment before it when it is the key frame that ends one.
    private mutating func emit(_ packet: Packet, to context: UnsafeMutablePointer<AVFormatContext>) throws(Failure) {
        let stream = packet.streamIndex
        let tb = timeBases[stream]
        let isVideo = stream == 0 && cutsOnStreamZero
        if let pts = packet.pts, firstPts == nil || (isVideo && !firstPtsFromVideo && pts < firstPts!) {
            firstPts = pts
            firstPtsFromVideo = isVideo
        }
        if isVideo, let pts = packet.pts {
            if segmentStart == nil { segmentStart = pts }
            let elapsed = pts - (firstPts ?? pts)
            let boundary = Int64((schedule.end(ofSegment: index) * Double(AV_TIME_BASE)).rounded())
            if packet.isKeyframe, packetsInSegment > 0, pts > segmentStart!,
               av_compare_ts(elapsed, tb, boundary, inboxd_AV_TIME_BASE_Q()) >= 0 {
                try cut(context, at: pts, timeBase: tb)
            }
            videoEnd = max(videoEnd ?? Int64.min, pts + max(packet.duration, 0))
        }
        let result = av_write_frame(context, packet.raw)
        packet.unref()
        if result < 0 { throw .libav(result) }
        packetsInSegment += 1
    }

    private mutating func cut(_ context: UnsafeMutablePointer<AVFormatContext>, at pts: Int64, timeBase: AVRational) throws(Failure) {
        // Flush the TS muxer's buffered PES (audio held up to max_delay) into the segment being closed.
        let flushed = av_write_frame(context, nil)
        if flushed < 0 { throw .libav(flushed) }
        try closeSegment(context, keep: true, seconds: Double(pts - segmentStart!) * av_q2d(timeBase))
        try writePlaylist(ended: false)
        do { try open(context) } catch { throw .pipeline(error) }
        let set = av_opt_set(context.pointee.priv_data, "mpegts_flags", "resend_headers", 0)
        if set < 0 { throw .libav(set) }
        segmentStart = pts
        packetsInSegment = 0
    }

    /// Closes the open segment file and renames it into place (or removes it: a segment with nothing in it).
    private mutating func closeSegment(_ context: UnsafeMutablePointer<AVFormatContext>, keep: Bool, seconds: Double) throws(Failure) {
        guard let pb = context.pointee.pb else { return }
        avio_flush(pb)
        let error = pb.pointee.error
        let closed = avio_closep(&context.pointee.pb)
        isOpen = false
        if error < 0 { throw .libav(error) }
        if closed < 0 { throw .libav(closed) }
        let path = segmentPath
        guard keep else {
            unlink(path + ".tmp")
            return
        }
        guard rename(path + ".tmp", path) == 0 else { throw .pipeline(.io(path: path, errno: errno)) }
        durations.append(seconds)
    }

    private func writePlaylist(ended: Bool) throws(Failure) {
        // libav's "hls" muxer: the longest segment rounded to the nearest second (RFC 8216 §4.3.3.1). While the
        // playlist grows it is at least the nominal length, so a short first segment does not make it change later.
        let longest = durations.max() ?? schedule.every
        let target = max(1, Int((ended ? longest : max(longest, schedule.every)).rounded()))
        var text = """
            #EXTM3U
            #EXT-X-VERSION:6
            #EXT-X-TARGETDURATION:\(target)
            #EXT-X-MEDIA-SEQUENCE:0
            #EXT-X-PLAYLIST-TYPE:\(ended ? "VOD" : "EVENT")
            #EXT-X-INDEPENDENT-SEGMENTS

            """
        for (i, seconds) in durations.enumerated() {
            text += String(format: "#EXTINF:%f,\n", seconds) + segmentName(i) + "\n"
        }
        if ended { text += "#EXT-X-ENDLIST\n" }
        do { try AtomicFile.write(text, to: "\(directory)/index.m3u8", durable: ended) } catch { throw .pipeline(error) }
    }
}
