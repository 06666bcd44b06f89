import CInboxd
import Foundation
import HTTPKit
import NIOCore
import NIOPosix

/// A temp file an upload streams into, written on the blocking-I/O pool (`BlockingIO`), never on the cooperative pool
/// (a slow disk would stall every request there). One batch is written while the next one is received: the write of
/// batch N is awaited only before batch N+1 is written, so receiving and writing overlap and writes stay in order.
/// Owned by one task.
///
/// A new file (`create`) is written with direct I/O (`O_DIRECT`) where the filesystem has it: the received pieces are
/// copied into one of two page-aligned 4 MiB staging buffers and each full buffer goes to the disk without passing
/// through the page cache. 4 MiB, not 1: on this class of disk a direct write of 1 MiB runs at ~1.9 GB/s and one of
/// 4 MiB at ~2.3, and fewer hand-overs leave the disk idle less often (1 GiB upload: ~1,300 → ~1,700 MiB/s together
/// with 512 KiB socket reads, README Performance). Copying a 1 GiB upload into the page cache and writing it back cost the daemon more
/// CPU than everything else in the upload together (see README, Performance); a direct write costs a tenth of it,
/// and the final `fdatasync` has only the last partial block and the metadata left. The tail that is not a whole
/// number of 4 KiB blocks is written through the page cache (O_DIRECT is turned off for it). Where direct I/O is
/// refused (`EINVAL`: a filesystem without it), the file is written buffered, like an appended file.
///
/// Buffered (an appended file, resumable uploads): pieces are gathered as they arrive (the received buffers
/// themselves, no copy) and each ~1 MiB batch is written; writeback of each 8 MiB is started as it is written
/// (`sync_file_range`, no waiting), so the `fdatasync` in `finish()` only waits for the tail.
///
/// Either way the file is durable before the receiver answers 202 (`finish()` ends with `fdatasync`).
struct SpoolFile {
    static let batchBytes = 1 << 20
    static let writebackBytes: Int64 = 8 << 20
    static let directBatchBytes = 4 << 20
    /// Direct I/O needs buffer addresses, file offsets and lengths aligned to the logical block size (at most 4 KiB).
    static let directAlignment = 4096

    let path: String
    private let fd: Int32
    private let pool: NIOThreadPool
    /// Direct mode: the staging buffer being filled, and the other one once its write is done; nil when buffered.
    private var staging: StagingBuffer?
    private var spare: StagingBuffer?
    private var pending: [ByteBuffer] = []
    private var pendingBytes = 0
    /// The batch being written now (it hands its staging buffer back); its errors surface at the next `flush`.
    private var writing: Task<StagingBuffer?, Error>?
    /// Bytes of the batches written, or being written once `writing` is awaited.
    private(set) var bytesWritten: Int64 = 0
    private var writebackStarted: Int64 = 0
    private var isOpen = true

    /// True when the file is written with direct I/O.
    var isDirect: Bool { staging != nil }

    /// Creates `path` exclusively (an existing file is never overwritten), for direct I/O where the filesystem has it
    /// (`direct: false` writes through the page cache).
    static func create(at path: String, pool: NIOThreadPool, direct: Bool = true) async throws -> SpoolFile {
        let (fd, isDirect) = try await pool.runIfActive {
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o644)
            guard fd >= 0 else { throw SpoolError.io(call: "open", path: path, errno: errno) }
            return (fd, direct && inboxd_set_direct_io(fd, 1) == 0)
        }
        var spool = SpoolFile(path: path, fd: fd, pool: pool)
        if isDirect { spool.staging = StagingBuffer(capacity: directBatchBytes, alignment: directAlignment) }
        return spool
    }

    /// Opens an existing file to append to (a resumable upload's data); `bytesWritten` counts this session's bytes.
    static func append(to path: String, pool: NIOThreadPool) async throws -> SpoolFile {
        let fd = try await pool.runIfActive {
            let fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW)
            guard fd >= 0 else { throw SpoolError.io(call: "open", path: path, errno: errno) }
            return fd
        }
        return SpoolFile(path: path, fd: fd, pool: pool)
    }

    private init(path: String, fd: Int32, pool: NIOThreadPool) {
        self.path = path
        self.fd = fd
        self.pool = pool
    }

    mutating func append(_ piece: ByteBuffer) async throws {
        guard piece.readableBytes > 0 else { return }
        guard var buffer = staging else {
            pending.append(piece)
            pendingBytes += piece.readableBytes
            if pendingBytes >= Self.batchBytes { try await flush() }
            return
        }
        var piece = piece
        while piece.readableBytes > 0 {
            let n = buffer.fill(from: &piece)
            pendingBytes += n
            if buffer.isFull {
                try await flush()
                buffer = staging!
            }
        }
    }

    /// Waits for the batch being written, then starts writing what is pending (and, every 8 MiB, its writeback).
    /// Direct: writes the staging buffer once it is full and goes on filling the other one.
    private mutating func flush() async throws {
        try await settle()
        guard pendingBytes > 0 else { return }
        let fd = self.fd, path = self.path, pool = self.pool
        let upTo = bytesWritten + Int64(pendingBytes)
        if let full = staging {
            precondition(full.isFull, "a direct write needs whole blocks; the tail goes in finish()")
            writing = Task {
                try await pool.runIfActive {
                    try SpoolError.io { try full.write(to: fd, path: path) }
                    return full
                }
            }
            staging = spare ?? StagingBuffer(capacity: Self.directBatchBytes, alignment: Self.directAlignment)
            spare = nil
        } else {
            let batch = pending, from = writebackStarted
            let startWriteback = upTo - writebackStarted >= Self.writebackBytes
            if startWriteback { writebackStarted = upTo }
            writing = Task {
                try await pool.runIfActive {
                    for piece in batch {
                        try SpoolError.io { try piece.withUnsafeReadableBytes { try FileSystem.writeAll(fd, $0, path: path) } }
                    }
                    if startWriteback { _ = inboxd_start_writeback(fd, from, upTo - from) }  // a hint: errors surface at fdatasync
                    return nil
                }
            }
            pending.removeAll(keepingCapacity: true)
        }
        bytesWritten = upTo
        pendingBytes = 0
    }

    /// Waits for the batch being written; rethrows its error.
    private mutating func settle() async throws {
        guard let task = writing else { return }
        writing = nil
        if let buffer = try await task.value {
            buffer.reset()
            spare = buffer
        }
    }

    /// Writes what is pending and closes the file; it stays in place for the caller to rename.
    mutating func finish() async throws {
        let tail = staging
        if tail == nil { try await flush() }
        try await settle()
        let fd = self.fd, path = self.path
        bytesWritten += Int64(pendingBytes)
        pendingBytes = 0
        staging = nil
        spare = nil
        isOpen = false  // close(2) releases the fd even when it reports an error
        try await pool.runIfActive {
            do {
                if let tail { try SpoolError.io { try tail.write(to: fd, path: path) } }
                guard fdatasync(fd) == 0 else { throw SpoolError.io(call: "fdatasync", path: path, errno: errno) }
            } catch {
                close(fd)
                throw error
            }
            guard close(fd) == 0 else { throw SpoolError.io(call: "close", path: path, errno: errno) }
        }
    }

    /// Closes (if still open) and keeps the file; for an appended file whose owner truncates it back.
    func closeKeepingFile() async {
        let fd = self.fd, closing = isOpen
        guard closing else { return }
        _ = try? await writing?.value  // no write may land after the owner truncates
        _ = try? await pool.runIfActive { _ = Glibc.close(fd) }
    }

    /// Closes (if still open) and removes the file; for every failure path.
    func discard() async {
        let fd = self.fd, path = self.path, closing = isOpen
        _ = try? await writing?.value  // the fd stays open until its last write is done
        _ = try? await pool.runIfActive {
            if closing { close(fd) }
            unlink(path)
        }
    }
}

/// A page-aligned buffer for direct writes. It is used by one side at a time: filled by the spool's owner, then
/// handed to the write on the blocking-I/O pool, then handed back (the hand-overs are the `Task` that writes it).
final class StagingBuffer: @unchecked Sendable {
    private let base: UnsafeMutableRawPointer
    let capacity: Int
    private let alignment: Int
    private(set) var count = 0

    /// Mapped, not allocated: the pages go back to the system when the upload ends instead of staying in a malloc
    /// arena of whichever thread freed them (each upload would otherwise leave its buffers resident until a trim).
    init(capacity: Int, alignment: Int) {
        precondition(alignment <= 4096 && 4096 % alignment == 0, "mmap gives page-aligned memory")
        let p = mmap(nil, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let p, p != MAP_FAILED else { fatalError("mmap(\(capacity)) failed: \(String(cString: strerror(errno)))") }
        base = p
        self.capacity = capacity
        self.alignment = alignment
    }

    deinit { munmap(base, capacity) }

    var isFull: Bool { count == capacity }

    func reset() { count = 0 }

    /// Copies as much of `piece` as fits and moves its reader past it; returns the bytes taken.
    func fill(from piece: inout ByteBuffer) -> Int {
        let n = min(piece.readableBytes, capacity - count)
        piece.withUnsafeReadableBytes { src in (base + count).copyMemory(from: src.baseAddress!, byteCount: n) }
        piece.moveReaderIndex(forwardBy: n)
        count += n
        return n
    }

    /// Writes the whole content at the file's offset (a multiple of the alignment): the whole blocks with direct I/O,
    /// a last partial block through the page cache (O_DIRECT is turned off for it, so this must be the last write).
    /// A filesystem that refuses a direct write (`EINVAL`) gets the rest buffered.
    func write(to fd: Int32, path: String) throws {
        let whole = count - count % alignment
        var offset = 0, direct = true
        func goBuffered() {
            if direct { _ = inboxd_set_direct_io(fd, 0) }
            direct = false
        }
        while offset < count {
            if offset >= whole { goBuffered() }
            let r = Glibc.write(fd, base + offset, (offset < whole ? whole : count) - offset)
            if r >= 0 {
                offset += r
                if offset % alignment != 0 { goBuffered() }  // a short write: the rest is unaligned
                continue
            }
            switch errno {
            case EINTR: continue
            case EINVAL where direct: goBuffered()  // no direct I/O here after all
            default: throw SystemError(call: "write", path: path, code: errno)
            }
        }
    }
}

enum SpoolError: Error, CustomStringConvertible {
    case io(call: String, path: String, errno: Int32)

    /// Runs a `FileSystem` call, keeping its errno so a full disk still becomes the client's 507.
    static func io<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as SystemError {
            throw SpoolError.io(call: e.call, path: e.path, errno: e.code)
        }
    }

    var description: String {
        switch self {
        case .io(let call, let path, let e): "\(call) \(path): \(String(cString: strerror(e)))"
        }
    }

    /// ENOSPC/EDQUOT are the client's 507, everything else is ours (500).
    var httpFailure: APIError {
        switch self {
        case .io(_, _, let e) where e == ENOSPC || e == EDQUOT:
            APIError.refusal(.insufficientStorage, "insufficient_storage", "inbox filesystem is full")
        case .io:
            APIError.refusal(.internalServerError, "internal", description)
        }
    }
}
