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

/// Exclusive ownership of a job directory (`processing/<id>/`, `uploads/<id>/`): whoever holds it owns the job. The
/// kernel drops it when the process dies, so a second daemon (or the next start) can tell an abandoned job from a
/// running one.
///
/// It is an open-file-description byte-range lock (`fcntl(F_OFD_SETLK)`, Linux ≥ 3.15; on NFS a lock of the server's,
/// as `flock` was) of one byte in one of `shardCount` shared lock files, `<parent>/.locks/NN`: the byte's offset and
/// the file are a hash of the directory's name. Those files are opened once per process and kept open, so a queued
/// job costs no descriptor (a per-directory `flock` cost one each, and a burst stopped at the open-file limit).
/// Sharding keeps each file's lock list, which the kernel walks on every lock, short.
///
/// OFD locks never conflict within one open file description, so this process's holders are kept in a set: a second
/// holder of a directory here is refused as another process is. Two names whose hashes collide share a byte (one in
/// 2^62): the byte is counted and unlocked when its last holder goes, and another process holding one of them makes
/// the other look busy too, which only defers it.
final class DirectoryLock: Sendable {
    let path: String
    private let key: ByteKey

    static let shardCount = 64
    static let directoryName = ".locks"

    /// nil when the directory is not there (or is a symlink), when another process or another holder in this process
    /// holds it, or when its lock file cannot be opened. `hash` replaces the name's (tests make collisions with it).
    init?(path: String, hash forcedHash: UInt64? = nil) {
        guard FileSystem.status(path)?.kind == .directory else { return nil }
        let slash = path.lastIndex(of: "/")
        let parent = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let hash = forcedHash ?? Self.hash(name)
        let (shard, offset) = Self.byte(hash)
        guard let key = Self.state.withLock({ state -> ByteKey? in
            guard !state.holders.contains(path) else { return nil }
            guard let fd = state.lockFile(parent: parent, shard: shard) else { return nil }
            let key = ByteKey(fd: fd, offset: offset)
            if state.byteHolders[key, default: 0] == 0 {
                guard inboxd_ofd_lock_byte(fd, offset, 1) == 0 else { return nil }
            }
            state.byteHolders[key, default: 0] += 1
            state.holders.insert(path)
            return key
        }) else { return nil }
        self.path = path
        self.key = key
    }

    deinit {
        let path = self.path, key = self.key
        Self.state.withLock { state in
            state.holders.remove(path)
            let left = state.byteHolders[key, default: 1] - 1
            if left > 0 {
                state.byteHolders[key] = left
            } else {
                state.byteHolders[key] = nil
                _ = inboxd_ofd_lock_byte(key.fd, key.offset, 0)
            }
        }
    }

    /// Opens every lock file of `parent` (creating `.locks/` and the files when missing), so a daemon that could not
    /// take its jobs' locks (files left by another user, say a daemon once run as root) fails at start with the path
    /// instead of deferring every claim. Returns the first file that cannot be opened read-write, and why.
    static func openLockFiles(parent: String) -> (path: String, code: Int32)? {
        state.withLock { state in
            for shard in 0..<shardCount where state.lockFile(parent: parent, shard: shard) == nil {
                return (parent + "/" + directoryName + "/" + lockFileName(shard: shard), errno)
            }
            return nil
        }
    }

    /// FNV-1a, 64 bits, of the name's UTF-8 bytes: stable across processes and releases (any daemon on the inbox must
    /// pick the same byte).
    static func hash(_ name: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 {
            h ^= UInt64(byte)
            h = h &* 0x0000_0100_0000_01b3
        }
        return h
    }

    /// The lock file (`<parent>/.locks/NN`, NN = shard) and byte a hash stands for.
    static func byte(_ hash: UInt64) -> (shard: Int, offset: Int64) {
        (Int(hash % UInt64(shardCount)), Int64(bitPattern: hash & ((1 << 62) - 1)))
    }

    static func lockFileName(shard: Int) -> String { (shard < 10 ? "0" : "") + String(shard) }

    private struct ByteKey: Hashable {
        let fd: Int32
        let offset: Int64
    }

    private struct State {
        /// Lock files opened so far, by `<parent>/.locks/NN`: kept open for the process's life.
        var files: [String: Int32] = [:]
        var holders: Set<String> = []
        var byteHolders: [ByteKey: Int] = [:]

        mutating func lockFile(parent: String, shard: Int) -> Int32? {
            let dir = parent + "/" + DirectoryLock.directoryName
            let file = dir + "/" + DirectoryLock.lockFileName(shard: shard)
            if let fd = files[file] { return fd }
            if Glibc.mkdir(dir, 0o755) != 0, errno != EEXIST { return nil }
            let fd = open(file, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
            guard fd >= 0 else { return nil }
            files[file] = fd
            return fd
        }
    }

    private static let state = Mutex(State())
}
