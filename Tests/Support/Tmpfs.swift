import Foundation

/// A small tmpfs mounted by the test over a directory (the tests run as root), to make a filesystem fill up on
/// purpose. `unmount()` must always run; it falls back to a lazy unmount when something still holds the mount.
public final class Tmpfs: @unchecked Sendable {
    public let path: String
    private let lock = NSLock()
    private var mounted = false

    /// Why mounting is impossible here (not root, no mount permission in this container), or nil when it works.
    public static let unavailableReason: String? = {
        guard geteuid() == 0 else { return "mounting a tmpfs needs root" }
        guard let probe = try? TempDir("inboxd-tmpfs-probe") else { return "cannot create a temp dir" }
        defer { probe.remove() }
        guard let r = try? Shell.run("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", probe.path]) else {
            return "mount(8) not found"
        }
        guard r.status == 0 else { return "mount -t tmpfs failed: \(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines))" }
        _ = try? Shell.run("umount", [probe.path])
        return nil
    }()

    /// Mounts a tmpfs of `bytes` (rounded up to pages) over `path`, which is created if needed; whatever was in
    /// the directory is hidden until `unmount()`.
    public init(at path: String, bytes: Int) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let r = try Shell.run("mount", ["-t", "tmpfs", "-o", "size=\(bytes),mode=0755", "tmpfs", path])
        guard r.status == 0 else { throw TmpfsError("mount -t tmpfs on \(path) failed: \(r.stderr)") }
        mounted = true
    }

    deinit { unmount() }

    public var freeBytes: Int64 {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return -1 }
        return Int64(s.f_bavail) * Int64(s.f_frsize)
    }

    /// Allocates a file (`.filler`, so an inbox scan skips it as a dot-file) that leaves only `leaving` bytes
    /// free; `leaving: 0` fills the filesystem completely. Returns its path; delete it to free the space.
    @discardableResult
    public func fill(leaving: Int64 = 0, name: String = ".filler") throws -> String {
        let file = path + "/" + name
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw TmpfsError("open \(file): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let page = Int64(sysconf(Int32(_SC_PAGESIZE)))
        let size = max(0, (freeBytes - leaving) / page * page)
        if size > 0 {
            let rc = posix_fallocate(fd, 0, off_t(size))
            guard rc == 0 else { throw TmpfsError("fallocate \(size) bytes in \(file): \(String(cString: strerror(rc)))") }
        }
        return file
    }

    public func unmount() {
        let wasMounted = lock.withLock { () -> Bool in
            defer { mounted = false }
            return mounted
        }
        guard wasMounted else { return }
        if (try? Shell.run("umount", [path]))?.status != 0 {
            _ = try? Shell.run("umount", ["-l", path])
        }
    }

    public struct TmpfsError: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}
