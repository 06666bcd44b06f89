import Foundation

/// The bounded hand-off from the decoding thread to one rung's encoder thread: decoded frames (references to
/// the decoder's refcounted buffers, `av_frame_ref`) and the shared audio packets, in decode order. Bounded so a
/// slow encoder holds the decoder back instead of letting frames pile up in memory.
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
    private var items: [Item] = []
    private var head = 0
    private var closed = false
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// Waits for room; false when the consumer is gone (it failed or the conversion was abandoned).
    func push(_ item: Item) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while !closed, items.count - head >= capacity { condition.wait() }
        guard !closed else { return false }
        items.append(item)
        condition.broadcast()
        return true
    }

    /// Waits for the next item; nil once closed.
    func pop() -> Item? {
        condition.lock()
        defer { condition.unlock() }
        while !closed, head == items.count { condition.wait() }
        guard !closed else { return nil }
        let item = items[head]
        head += 1
        if head > 64, head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        condition.broadcast()
        return item
    }

    /// Wakes both sides for good and drops what is queued.
    func close() {
        condition.lock()
        closed = true
        items.removeAll()
        head = 0
        condition.broadcast()
        condition.unlock()
    }
}
