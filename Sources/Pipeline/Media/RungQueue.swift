import Foundation

/// The bounded hand-off from the decoding thread to one rung's encoder thread: decoded frames (references to
/// the decoder's refcounted buffers, `av_frame_ref`) and the shared audio packets, in decode order. Bounded so a
/// slow encoder holds the decoder back instead of letting frames pile up in memory.
///
/// A ring of `capacity` slots, each emptied as its item is popped: the queue holds at most `capacity` items
/// (`held`), never one the consumer already took. (An array with a moving head that compacted every 64 pops kept
/// up to 64 popped items, about 24 decoded 1080p frames, 75 MiB, alive in the decoder's frame pool: the one-rung
/// transcode's peak RSS was 1.23× the ffmpeg CLI's.)
///
/// `@unchecked Sendable`: every item moves from one thread to the other under `condition`, and neither side
/// touches it after the hand-off.
final class RungQueue: @unchecked Sendable {
    enum Item {
        case video(Frame)
        case audio(Packet)
        case end
    }

    private let condition = NSCondition()
    private var slots: [Item?]
    private var head = 0
    private var count = 0
    private var closed = false
    let capacity: Int

    init(capacity: Int) {
        precondition(capacity > 0, "a rung queue needs room for one item")
        self.capacity = capacity
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
        while !closed, count >= capacity { condition.wait() }
        guard !closed else { return false }
        slots[(head + count) % capacity] = item
        count += 1
        condition.broadcast()
        return true
    }

    /// Waits for the next item; nil once closed.
    func pop() -> Item? {
        condition.lock()
        defer { condition.unlock() }
        while !closed, count == 0 { condition.wait() }
        guard !closed, let item = slots[head] else { return nil }
        slots[head] = nil
        head = (head + 1) % capacity
        count -= 1
        condition.broadcast()
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
