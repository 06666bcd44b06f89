import CLibAV
import Foundation
@testable import Pipeline
import Testing

/// The hand-off between the decoding thread and a rung's encoder thread holds at most `capacity` items, and no
/// item the encoder already took: a decoded frame it keeps alive is one more buffer in the decoder's frame pool.
@Suite("Rung queue")
struct RungQueueTests {
    /// A 1080p yuv420p frame with a buffer of its own, as the decoder hands them out.
    func pictureFrame(pts: Int64) throws -> Frame {
        let frame = try Frame()
        try frame.prepareBuffer(width: 1920, height: 1080, format: AV_PIX_FMT_YUV420P, step: "test frame")
        frame.pts = pts
        return frame
    }

    @Test("a popped frame is released as soon as the consumer drops it")
    func poppedFramesAreReleased() throws {
        let queue = RungQueue(capacity: 6)
        var watched: [Weak<Frame>] = []
        for round in 0..<50 {
            for i in 0..<3 {
                let frame = try pictureFrame(pts: Int64(round * 3 + i))
                watched.append(Weak(frame))
                #expect(queue.push(.video(frame)))
                #expect(queue.push(.audio(try Packet())))
            }
            for _ in 0..<6 {
                guard case .some = queue.pop() else { Issue.record("queue closed early"); return }
            }
            #expect(queue.held == 0)
            let alive = watched.filter { $0.object != nil }.count
            #expect(alive == 0, "round \(round): \(alive) popped frames still alive")
        }
        queue.close()
    }

    @Test("a fast producer and a slow consumer never have more than capacity frames alive between them")
    func framesAliveStayBounded() throws {
        let capacity = 3
        let queue = RungQueue(capacity: capacity)
        let watched = Locked<[Weak<Frame>]>([])
        let total = 120
        let producer = JoinedThread {
            for i in 0..<total {
                guard let frame = try? pictureFrame(pts: Int64(i)) else { return }
                watched.withLock { $0.append(Weak(frame)) }
                guard queue.push(.video(frame)) else { return }
            }
            _ = queue.push(.end)
        }
        var popped = 0
        var mostAlive = 0
        while let item = queue.pop() {
            if case .end = item { break }
            popped += 1
            // The producer is blocked on a full queue most of the time: what is alive now is the queue's
            // items, the one in hand, and at most one the producer made but could not push yet.
            usleep(500)
            let alive = watched.withLock { $0.filter { $0.object != nil }.count }
            mostAlive = max(mostAlive, alive)
            #expect(queue.held <= capacity)
        }
        producer.join()
        queue.close()
        #expect(popped == total)
        #expect(mostAlive <= capacity + 2, "up to \(mostAlive) frames alive with a queue of \(capacity)")
        #expect(watched.withLock { $0.allSatisfy { $0.object == nil } })
    }

    @Test("push waits for room and fails once the consumer is gone; pop returns nil once closed")
    func closeWakesBothSides() throws {
        let queue = RungQueue(capacity: 1)
        #expect(queue.push(.end))
        let pushed = Locked<Bool?>(nil)
        let blocked = JoinedThread { let ok = queue.push(.end); pushed.withLock { $0 = ok } }
        while queue.held < 1 { usleep(100) }
        #expect(pushed.withLock { $0 } == nil)
        queue.close()
        blocked.join()
        #expect(pushed.withLock { $0 } == false)
        #expect(queue.pop() == nil)
        #expect(queue.held == 0)
    }

    @Test("scaling reuses the destination's buffer when nothing else refers to it, never one still referenced")
    func scalerReusesOnlyFreeBuffers() throws {
        let source = try pictureFrame(pts: 7)
        memset(source.raw.pointee.data.0!, 200, Int(source.raw.pointee.linesize.0) * 1080)
        let scaler = Scaler(width: 640, height: 360, format: AV_PIX_FMT_YUV420P)
        let scaled = try Frame()
        try scaler.scale(source, into: scaled)
        let first = scaled.raw.pointee.data.0
        #expect(scaled.width == 640 && scaled.height == 360 && scaled.pts == 7)
        try scaler.scale(source, into: scaled)
        #expect(scaled.raw.pointee.data.0 == first, "an unreferenced buffer of the same size is reused")

        // A queue (or an encoder) still holds the picture: the next scale must not draw into it.
        let held = try scaled.reference()
        memset(source.raw.pointee.data.0!, 50, Int(source.raw.pointee.linesize.0) * 1080)
        try scaler.scale(source, into: scaled)
        #expect(scaled.raw.pointee.data.0 != first)
        #expect(held.raw.pointee.data.0 == first)
        #expect(held.raw.pointee.data.0![0] > 150, "the held picture kept its content")
        #expect(scaled.raw.pointee.data.0![0] < 100)
    }
}

final class Weak<Object: AnyObject>: @unchecked Sendable {
    weak var object: Object?
    init(_ object: Object) { self.object = object }
}

/// A value shared between the test and a thread it starts.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
