import CLibAV

/// The stream-copied top rung on a thread of its own: the reading thread hands it references to the source's
/// packets (`av_packet_ref`, no copy of the data), already rescaled to the muxer's time bases, and this thread
/// muxes them into MPEG-TS (or fMP4) segments. A remux is then two halves running side by side on two cores:
/// demuxing (reading the source, cutting its packets) and muxing (packetizing, writing the segments), which took
/// about a third and two thirds of a single-threaded remux.
///
/// `@unchecked Sendable`: after `start()` only the rung's thread touches the muxer; the reading thread only fills
/// `batch` and hands batches over, and after `finish()` or `abandon()` touches nothing.
final class CopyRung: @unchecked Sendable {
    enum Item {
        case packets([Packet])
        case end
    }

    /// Packets go over in batches of 32 (about a third of a second of 1080p video and audio): one hand-off per
    /// packet made the two threads contend for the queue's lock ~35,000 times in a 10-minute remux.
    static let batchSize = 32
    private let control: JobControl
    /// Its queue holds 8 batches (about 2 s, a few MiB): enough that the two threads rarely wait for each other,
    /// and a waiting reader goes on only once half of them are muxed.
    private let worker: QueueThread<Item>
    private var batch: [Packet] = []
    let muxer: HLSMuxer
    /// The muxer's time bases after its header: MPEG-TS changes them to 1/90000.
    let videoTimeBase: AVRational
    let audioTimeBase: AVRational?

    /// `muxer` has its streams (0 video, 1 audio if any) and its header written.
    init(muxer: HLSMuxer, hasAudio: Bool, control: JobControl) {
        self.muxer = muxer
        self.control = control
        worker = QueueThread(queue: HandOffQueue(capacity: 8, resumeAt: 4), control: control, step: "write HLS segment in \(muxer.directory)")
        videoTimeBase = muxer.timeBase(ofStream: 0)
        audioTimeBase = hasAudio ? muxer.timeBase(ofStream: 1) : nil
    }

    func start() { worker.start { [self] () throws(PipelineError) in try run() } }

    /// Hands a packet (rescaled, stream index set) to the muxing thread; throws why it stopped, if it did.
    func write(_ packet: Packet) throws(PipelineError) {
        batch.append(try packet.reference())
        if batch.count >= Self.batchSize { try sendBatch() }
    }

    /// Muxes what is queued, writes the last segment and ends the playlist; throws the muxing thread's error.
    func finish() throws(PipelineError) {
        try sendBatch()
        try worker.feed(.end)
        if let error = worker.join() { throw error }
    }

    /// Stops the muxing thread without finishing the playlist (the conversion failed or was cancelled).
    func abandon() {
        worker.queue.close()
        _ = worker.join()
    }

    private func sendBatch() throws(PipelineError) {
        guard !batch.isEmpty else { return }
        let packets = batch
        batch = []
        batch.reserveCapacity(Self.batchSize)
        try worker.feed(.packets(packets))
    }

    private func run() throws(PipelineError) {
        while let item = worker.queue.pop() {
            switch item {
            case .packets(let packets):
                for packet in packets { try muxer.write(packet) }
            case .end:
                try muxer.finish()
                return
            }
        }
        // Closed without an end: the conversion was abandoned.
        try control.check()
    }
}
