import Foundation
import Glibc

/// Linux inotify: one instance, watches by directory, blocking reads with a timeout. Used only from the
/// watcher's own thread.
final class Inotify {
    struct Event {
        let wd: Int32
        let mask: UInt32
        let name: String
        /// The kernel's name bytes are not valid UTF-8 (`name` then holds a repaired copy that names no file).
        var nameIsInvalid = false

        var isOverflow: Bool { mask & UInt32(IN_Q_OVERFLOW) != 0 }
        var isDirectory: Bool { mask & UInt32(IN_ISDIR) != 0 }
        func has(_ flag: Int32) -> Bool { mask & UInt32(flag) != 0 }
    }

    private let fd: Int32
    private let buffer: UnsafeMutableRawBufferPointer

    init() throws {
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else {
            if errno == EMFILE {
                throw StartupError.inotifyLimit(
                    "inotify instance limit reached (fs.inotify.max_user_instances = \(Self.sysctl("max_user_instances"))); raise it or stop other watchers")
            }
            throw SystemError(call: "inotify_init1", path: "", code: errno)
        }
        buffer = .allocate(byteCount: 1 << 20, alignment: MemoryLayout<inotify_event>.alignment)
    }

    deinit {
        close(fd)
        buffer.deallocate()
    }

    func addWatch(_ path: String, mask: UInt32) throws -> Int32 {
        do {
            return try FileSystem.retrying("inotify_add_watch", path) { inotify_add_watch(fd, path, mask) }
        } catch let e as SystemError where e.code == ENOSPC {
            throw StartupError.inotifyLimit(
                "cannot watch \(path): inotify watch limit reached (fs.inotify.max_user_watches = \(Self.sysctl("max_user_watches")))")
        }
    }

    private static func sysctl(_ name: String) -> String {
        ((try? String(contentsOfFile: "/proc/sys/fs/inotify/" + name, encoding: .utf8)) ?? "?").trimmingCharacters(in: .whitespacesAndNewlines)
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
            var invalid = false
            if e.len > 0 {
                let start = buffer.baseAddress!.advanced(by: offset + header).assumingMemoryBound(to: UInt8.self)
                let bytes = UnsafeBufferPointer(start: start, count: Int(e.len))
                let end = bytes.firstIndex(of: 0) ?? bytes.count
                if let valid = String(validating: bytes[0..<end], as: UTF8.self) {
                    name = valid
                } else {
                    name = String(decoding: bytes[0..<end], as: UTF8.self)
                    invalid = true
                }
            }
            events.append(Event(wd: e.wd, mask: e.mask, name: name, nameIsInvalid: invalid))
            offset += header + Int(e.len)
        }
        return events
    }
}
