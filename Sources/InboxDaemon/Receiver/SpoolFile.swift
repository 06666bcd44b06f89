import CInboxd
import Foundation
import HTTPKit
import NIOCore
import NIOPosix

/// A temp file an upload streams into. Pieces are gathered as they arrive (the received buffers themselves, no copy)
/// and each ~1 MiB batch is written on the blocking-I/O pool (`BlockingIO`), never on the cooperative pool (a slow
/// disk would stall every request there). One batch is written while the next one is received: the write of batch
/// N is awaited only before batch N+1 is written, so receiving and writing overlap and writes stay in order. Owned
/// by one task.
///
/// The file is durable before the receiver answers 202: writeback of each 8 MiB is started as it is written
/// (`sync_file_range`, no waiting), so the `fdatasync` in `finish()` only waits for the tail.
struct SpoolFile {
    static let batchBytes = 1 << 20
    static let writebackBytes: Int64 = 8 << 20

    let path: String
    private let fd: Int32
    private let pool: NIOThreadPool
    private var pending: [ByteBuffer] = []
    private var pendingBytes = 0
    /// The batch being written now; its errors surface at the next `flush`.
    private var writing: Task<Void, Error>?
    /// Bytes of the batches written, or being written once `writing` is awaited.
    private(set) var bytesWritten: Int64 = 0
    private var writebackStarted: Int64 = 0
    private var isOpen = true

    /// Creates `path` exclusively (an existing file is never overwritten).
    static func create(at path: String, pool: NIOThreadPool) async throws -> SpoolFile {
        let fd = try await pool.runIfActive {
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o644)
            guard fd >= 0 else { throw SpoolError.io(call: "open", path: path, errno: errno) }
            return fd
        }
        return SpoolFile(path: path, fd: fd, pool: pool)
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
        pending.append(piece)
        pendingBytes += piece.readableBytes
        if pendingBytes >= Self.batchBytes { try await flush() }
    }

    /// Waits for the batch being written, then starts writing what is pending (and, every 8 MiB, its writeback).
    mutating func flush() async throws {
        try await settle()
        guard pendingBytes > 0 else { return }
        let batch = pending, fd = self.fd, path = self.path, pool = self.pool
        let from = writebackStarted, upTo = bytesWritten + Int64(pendingBytes)
        let startWriteback = upTo - writebackStarted >= Self.writebackBytes
        if startWriteback { writebackStarted = upTo }
        writing = Task {
            try await pool.runIfActive {
                for piece in batch {
                    try SpoolError.io { try piece.withUnsafeReadableBytes { try FileSystem.writeAll(fd, $0, path: path) } }
                }
                if startWriteback { _ = inboxd_start_writeback(fd, from, upTo - from) }  // a hint: errors surface at fdatasync
            }
        }
        bytesWritten = upTo
        pending.removeAll(keepingCapacity: true)
        pendingBytes = 0
    }

    /// Waits for the batch being written; rethrows its error.
    private mutating func settle() async throws {
        guard let task = writing else { return }
        writing = nil
        try await task.value
    }

    /// Writes what is pending and closes the file; it stays in place for the caller to rename.
    mutating func finish() async throws {
        try await flush()
        try await settle()
        let fd = self.fd, path = self.path
        isOpen = false  // close(2) releases the fd even when it reports an error
        try await pool.runIfActive {
            guard fdatasync(fd) == 0 else {
                let e = errno
                close(fd)
                throw SpoolError.io(call: "fdatasync", path: path, errno: e)
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
