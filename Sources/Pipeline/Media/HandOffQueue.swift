import Foundation
import Synchronization

/// What the decoding thread hands a rung's encoder thread: decoded frames (references to the decoder's refcounted
/// buffers, `av_frame_ref`) and the shared audio packets, in decode order.
enum RungItem {
    case video(Frame)
    case audio(Packet)
    case end
}

/// The hand-off from the decoding thread to one rung's encoder thread.
typealias RungQueue = HandOffQueue<RungItem>

/// A bounded hand-off from one producer thread to one consumer thread. Bounded so a slow consumer holds the producer
/// back instead of letting items (decoded frames, packets) pile up in memory.
///
/// A ring of `capacity` slots, each emptied as its item is popped: the queue holds at most `capacity` items
/// (`held`), never one the consumer already took. (An array with a moving head that compacted every 64 pops kept
/// up to 64 popped items, about 24 decoded 1080p frames, 75 MiB, alive in the decoder's frame pool: the one-rung
/// transcode's peak RSS was 1.23× the ffmpeg CLI's.)
///
/// A producer that found the queue full sleeps until it has drained to `resumeAt` items, and a consumer is woken
/// only when an item arrives in an empty queue: with small items (a remux's packets, ~1,300 a second of 1080p
/// video and audio) the two threads would otherwise wake each other for every item.
///
/// `@unchecked Sendable`: every item moves from one thread to the other under `condition`, and neither side
/// touches it after the hand-off.
final class HandOffQueue<Item>: @unchecked Sendable {
    private let condition = NSCondition()
    private var slots: [Item?]
    private var head = 0
    private var count = 0
    private var closed = false
    private var producerWaits = false
    private var consumerWaits = false
    let capacity: Int
    let resumeAt: Int

    /// `resumeAt`: how far a full queue drains before its producer goes on (default `capacity - 1`, at once).
    init(capacity: Int, resumeAt: Int? = nil) {
        precondition(capacity > 0, "a hand-off queue needs room for one item")
        self.capacity = capacity
        self.resumeAt = min(max(resumeAt ?? capacity - 1, 0), capacity - 1)
        slots = Array(repeating: nil, count: capacity)
    }

    /// How many items the queue holds right now (pushed, not yet popped).
    var held: Int {
        condition.lock()
        defer { condition.unlock() }
        return slots.reduce(0) { $0 + ($1 == nil ? 0 : 1) }
    }

    /// Waits for room; false when the consumer is gone (it failed or the conversion was abandoned).
    func push(_ item: Item) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if !closed, count >= capacity {
            producerWaits = true
            while !closed, count > resumeAt { condition.wait() }
            producerWaits = false
        }
        guard !closed else { return false }
        slots[(head + count) % capacity] = item
        count += 1
        if consumerWaits { condition.broadcast() }
        return true
    }

    /// Waits for the next item; nil once closed.
    func pop() -> Item? {
        condition.lock()
        defer { condition.unlock() }
        if !closed, count == 0 {
            consumerWaits = true
            while !closed, count == 0 { condition.wait() }
            consumerWaits = false
        }
        guard !closed, let item = slots[head] else { return nil }
        slots[head] = nil
        head = (head + 1) % capacity
        count -= 1
        if producerWaits, count <= resumeAt { condition.broadcast() }
        return item
    }

    /// Wakes both sides for good and drops what is queued.
    func close() {
        condition.lock()
        closed = true
        for i in slots.indices { slots[i] = nil }
        head = 0
        count = 0
        condition.broadcast()
        condition.unlock()
    }
}

/// A thread that takes its work from a `HandOffQueue` (a rung's encoder, the copied rung's muxer). If its body
/// throws, the queue is closed and the producer's next `feed` rethrows the error.
///
/// `@unchecked Sendable`: `thread` is touched by the producer's thread only (`start`, `join`); the error crosses
/// threads under its mutex.
final class QueueThread<Item>: @unchecked Sendable {
    let queue: HandOffQueue<Item>
    private let control: JobControl
    /// What the thread does, for the error when it stopped without one ("encode 720p").
    private let step: String
    private var thread: JoinedThread?
    private let failure = Mutex<PipelineError?>(nil)

    init(queue: HandOffQueue<Item>, control: JobControl, step: String) {
        self.queue = queue
        self.control = control
        self.step = step
    }

    /// Starts the thread; `body` pops from `queue` until it is done.
    func start(_ body: @escaping @Sendable () throws(PipelineError) -> Void) {
        thread = JoinedThread { [self] in
            do throws(PipelineError) {
                try body()
            } catch {
                failure.withLock { $0 = error }
                queue.close()
            }
        }
    }

    /// Hands an item to the thread, waiting while the queue is full; throws why the thread stopped, if it did.
    func feed(_ item: Item) throws(PipelineError) {
        if queue.push(item) { return }
        try control.check()
        throw failure.withLock { $0 } ?? .libav(step: step, reason: "the thread stopped")
    }

    /// Waits for the thread; the error it stopped with, if any.
    func join() -> PipelineError? {
        thread?.join()
        thread = nil
        return failure.withLock { $0 }
    }
}
