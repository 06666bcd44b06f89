import CInboxd
import Foundation
import Synchronization

/// An errno failure of a named syscall, for messages like `rename a → b: No such file or directory`.
struct SystemError: Error, CustomStringConvertible {
    let call: String
    let path: String
    let code: Int32

    var description: String { "\(call) \(path): \(String(cString: strerror(code)))" }
}

/// The few filesystem calls the inbox needs, each retrying EINTR and throwing an error that names the call.
enum FileSystem {
    enum Kind: Equatable {
        case regular, directory, symlink, other(String)
    }

    struct Status {
        let kind: Kind
        let size: Int64
        let mtime: Double
        /// Hard links to the inode (1 for a file nobody linked elsewhere).
        let links: Int
    }

    /// `lstat`: never follows a symlink. nil when the path does not exist.
    static func status(_ path: String) -> Status? {
        status(cPath: Array(path.utf8CString))
    }

    private static func status(cPath: [CChar]) -> Status? {
        var st = stat()
        guard lstat(cPath, &st) == 0 else { return nil }
        let kind: Kind
        switch st.st_mode & S_IFMT {
        case S_IFREG: kind = .regular
        case S_IFDIR: kind = .directory
        case S_IFLNK: kind = .symlink
        case S_IFIFO: kind = .other("a FIFO")
        case S_IFSOCK: kind = .other("a socket")
        case S_IFCHR, S_IFBLK: kind = .other("a device")
        default: kind = .other("not a regular file")
        }
        let mtime = Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
        return Status(kind: kind, size: Int64(st.st_size), mtime: mtime, links: Int(st.st_nlink))
    }

    /// Reads a small regular file without following links or blocking on a FIFO.
    static func readSmallFile(_ path: String, limit: Int) throws -> [UInt8] {
        let fd = try retrying("open", path) { open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SystemError(call: "fstat", path: path, code: errno) }
        guard st.st_mode & S_IFMT == S_IFREG else { throw SystemError(call: "open", path: path, code: EINVAL) }
        var out = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while out.count <= limit {
            let n = try retrying("read", path) { buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) } }
            if n == 0 { break }
            out.append(contentsOf: buffer[0..<n])
        }
        return out
    }

    /// `rename(2)`, refusing to replace an existing target.
    static func renameNoReplace(_ from: String, _ to: String) throws {
        _ = try retrying("rename", "\(from) → \(to)") { inboxd_rename_noreplace(from, to) }
    }

    /// Plain `rename(2)` (replaces a target file, or an empty target directory).
    static func rename(_ from: String, _ to: String) throws {
        _ = try retrying("rename", "\(from) → \(to)") { Glibc.rename(from, to) }
    }

    static func mkdir(_ path: String) throws {
        _ = try retrying("mkdir", path) { Glibc.mkdir(path, 0o755) }
    }

    static func removeTree(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Names in `path` (valid UTF-8 only, see `listRaw`); empty when it cannot be listed. For state that must not
    /// be dropped on an error, use `listDirectoryChecked`.
    /// Bytes of the regular files under `path` (symlinks not followed).
    static func treeSize(_ path: String) -> Int64 {
        var total: Int64 = 0
        for name in listDirectory(path) {
            guard let st = status(path + "/" + name) else { continue }
            switch st.kind {
            case .regular: total += st.size
            case .directory: total += treeSize(path + "/" + name)
            default: break
            }
        }
        return total
    }

    static func listDirectory(_ path: String) -> [String] {
        (try? listDirectoryChecked(path)) ?? []
    }

    static func listDirectoryChecked(_ path: String) throws -> [String] {
        try listRaw(path).compactMap(\.name)
    }

    /// One directory entry: its bytes as the kernel has them, and its name when those bytes are valid UTF-8.
    struct RawEntry {
        let bytes: [UInt8]
        var name: String? { String(validating: bytes, as: UTF8.self) }
    }

    /// Every entry of `path` but `.` and `..`, by `readdir`, so names that are not valid UTF-8 are seen too.
    static func listRaw(_ path: String) throws -> [RawEntry] {
        guard let dir = opendir(path) else { throw SystemError(call: "opendir", path: path, code: errno) }
        defer { closedir(dir) }
        var out: [RawEntry] = []
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw SystemError(call: "readdir", path: path, code: errno) }
                return out
            }
            let bytes = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                Array(raw.prefix(while: { $0 != 0 }))
            }
            if bytes == [0x2e] || bytes == [0x2e, 0x2e] { continue }
            out.append(RawEntry(bytes: bytes))
        }
    }

    /// `rename(2)` of byte paths (for names that are not valid UTF-8), refusing to replace the target.
    static func renameNoReplace(raw from: [UInt8], _ to: String) throws {
        let source = from.map { CChar(bitPattern: $0) } + [0]
        _ = try retrying("rename", "\(String(decoding: from, as: UTF8.self)) → \(to)") { inboxd_rename_noreplace(source, to) }
    }

    /// `lstat` of a byte path.
    static func status(raw path: [UInt8]) -> Status? {
        status(cPath: path.map { CChar(bitPattern: $0) } + [0])
    }

    /// Writes a small file; `durable` `fsync`s it before returning (a renamed file never turns up empty after a
    /// power loss).
    static func writeFile(_ path: String, _ bytes: [UInt8], durable: Bool = false) throws {
        let fd = try retrying("open", path) { open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o644) }
        defer { close(fd) }
        try bytes.withUnsafeBytes { try writeAll(fd, $0, path: path) }
        if durable { try retrying("fsync", path) { fsync(fd) } }
    }

    /// Writes every byte to `fd`, across short writes and EINTR.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < bytes.count {
            offset += try retrying("write", path) { write(fd, bytes.baseAddress! + offset, bytes.count - offset) }
        }
    }

    /// Makes renames and creations inside `path` durable.
    static func syncDirectory(_ path: String) throws {
        let fd = try retrying("open", path) { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { close(fd) }
        try retrying("fsync", path) { fsync(fd) }
    }

    @discardableResult
    static func retrying<T: BinaryInteger>(_ call: String, _ path: String, _ body: () -> T) throws -> T {
        while true {
            let r = body()
            if r >= 0 { return r }
            if errno == EINTR { continue }
            throw SystemError(call: call, path: path, code: errno)
        }
    }
}

/// An exclusive `flock` on a job directory: whoever holds it owns the job. The kernel drops it when the
/// process dies, so a second daemon (or the next start) can tell an abandoned job from a running one.
final class DirectoryLock: Sendable {
    private let fd: Int32
    let path: String
    /// Locks held now: each is an open descriptor, and the claimer stops short of the open-file limit.
    static let held = Atomic<Int>(0)

    /// nil when another process (or another job here) holds the lock.
    init?(path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            return nil
        }
        self.fd = fd
        self.path = path
        Self.held.add(1, ordering: .relaxed)
    }

    deinit {
        close(fd)
        Self.held.subtract(1, ordering: .relaxed)
    }
}
