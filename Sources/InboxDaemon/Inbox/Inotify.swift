import Foundation
import Glibc

/// Linux inotify: one instance, watches by directory, blocking reads with a timeout. Used only from the
/// watcher's own thread.
final class Inotify {
    struct Event {
        let wd: Int32
        let mask: UInt32
        let name: String

        var isOverflow: Bool { mask & UInt32(IN_Q_OVERFLOW) != 0 }
        var isDirectory: Bool { mask & UInt32(IN_ISDIR) != 0 }
        func has(_ flag: Int32) -> Bool { mask & UInt32(flag) != 0 }
    }

    private let fd: Int32
    private let buffer: UnsafeMutableRawBufferPointer

    init() throws {
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { throw SystemError(call: "inotify_init1", path: "", code: errno) }
        buffer = .allocate(byteCount: 1 << 20, alignment: MemoryLayout<inotify_event>.alignment)
    }

    deinit {
        close(fd)
        buffer.deallocate()
    }

    func addWatch(_ path: String, mask: UInt32) throws -> Int32 {
        try FileSystem.retrying("inotify_add_watch", path) { inotify_add_watch(fd, path, mask) }
    }

    /// Waits up to `timeoutMs` for events and returns what arrived (possibly none).
    func read(timeoutMs: Int32) throws -> [Event] {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&p, 1, timeoutMs)
        if ready < 0 {
            if errno == EINTR { return [] }
            throw SystemError(call: "poll", path: "inotify", code: errno)
        }
        if ready == 0 { return [] }
        let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
        if n < 0 {
            if errno == EAGAIN || errno == EINTR { return [] }
            throw SystemError(call: "read", path: "inotify", code: errno)
        }
        var events: [Event] = []
        var offset = 0
        let header = MemoryLayout<inotify_event>.size
        while offset + header <= n {
            let e = buffer.load(fromByteOffset: offset, as: inotify_event.self)
            var name = ""
            if e.len > 0 {
                let start = buffer.baseAddress!.advanced(by: offset + header).assumingMemoryBound(to: UInt8.self)
                let bytes = UnsafeBufferPointer(start: start, count: Int(e.len))
                let end = bytes.firstIndex(of: 0) ?? bytes.count
                name = String(decoding: bytes[0..<end], as: UTF8.self)
            }
            events.append(Event(wd: e.wd, mask: e.mask, name: name))
            offset += header + Int(e.len)
        }
        return events
    }
}
