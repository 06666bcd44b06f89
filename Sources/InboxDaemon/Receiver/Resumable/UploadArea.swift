import Foundation

/// `<inbox>/uploads/<id>/`: a resumable upload's bytes while they arrive, on the inbox's filesystem so the last
/// step into `incoming/` is a rename. `data` grows by appends only; its size is the upload's offset, except while a
/// chunk with `Upload-Checksum` is being written: `.checksum-pending` then holds the offset before that chunk, and
/// the chunk counts only once it verified (a crash in between truncates it away at the next start).
/// Every call blocks: run them on `BlockingIO`.
struct UploadArea: Sendable {
    let root: String

    func dir(_ id: String) -> String { root + "/" + id }
    func data(_ id: String) -> String { dir(id) + "/data" }
    private func marker(_ id: String) -> String { dir(id) + "/.checksum-pending" }

    /// The directory and an empty data file, durable (the 201 promises the upload exists).
    func create(_ id: String) throws {
        try FileSystem.mkdir(dir(id))
        try FileSystem.writeFile(data(id), [], durable: true)
        try FileSystem.syncDirectory(root)
    }

    /// The offset a client may resume from: the data's size, or the start of a chunk still unverified; nil without data.
    func offset(_ id: String) -> Int64? {
        if let pending = pendingChecksumOffset(id) { return pending }
        return FileSystem.status(data(id)).map { Int64($0.size) }
    }

    func hasData(_ id: String) -> Bool { FileSystem.status(data(id))?.kind == .regular }

    /// A checksummed chunk is being written, or a crash left one unverified.
    func hasPendingChecksum(_ id: String) -> Bool { FileSystem.status(marker(id)) != nil }

    private func pendingChecksumOffset(_ id: String) -> Int64? {
        (try? FileSystem.readSmallFile(marker(id), limit: 64)).flatMap { Int64(String(decoding: $0, as: UTF8.self)) }
    }

    /// Before a checksummed chunk: where to cut back to if it never verifies, durable before any byte of it is written.
    func beginChecksummedChunk(_ id: String, at offset: Int64) throws {
        try FileSystem.writeFile(marker(id), Array(String(offset).utf8), durable: true)
        try FileSystem.syncDirectory(dir(id))
    }

    /// The chunk verified: it counts from now on, also after a crash.
    func endChecksummedChunk(_ id: String) throws {
        unlink(marker(id))
        try FileSystem.syncDirectory(dir(id))
    }

    /// Cuts the data back to `offset` (a chunk that failed its checksum or its write) and drops the marker.
    func truncate(_ id: String, to offset: Int64) throws {
        let path = data(id)
        let fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw SystemError(call: "open", path: path, code: errno) }
        defer { close(fd) }
        guard ftruncate(fd, off_t(offset)) == 0 else { throw SystemError(call: "ftruncate", path: path, code: errno) }
        guard fdatasync(fd) == 0 else { throw SystemError(call: "fdatasync", path: path, code: errno) }
        try endChecksummedChunk(id)
    }

    /// A crash during a checksummed chunk left its unverified bytes: cut them away.
    func repair(_ id: String) throws {
        if let pending = pendingChecksumOffset(id) { try truncate(id, to: pending) }
    }

    func remove(_ id: String) { FileSystem.removeTree(dir(id)) }

    func ids() throws -> [String] { try FileSystem.listDirectoryChecked(root).filter { !$0.hasPrefix(".") } }
}

/// The uploads a request of this process is writing to (or ending) right now: one at a time per upload, so a
/// second `PATCH` is refused (423) instead of interleaving bytes, and a `HEAD` waits for the running one to make its
/// bytes durable before it answers. Other processes on the same inbox are kept out by the directory's lock
/// (`DirectoryLock`).
actor ActiveUploads {
    private var busy: Set<String> = []

    func begin(_ id: String) -> Bool { busy.insert(id).inserted }
    func end(_ id: String) { busy.remove(id) }
    func isBusy(_ id: String) -> Bool { busy.contains(id) }

    /// Waits (polling; a request ends within its body timeout) until `id` is idle, at most `seconds`.
    func waitIdle(_ id: String, seconds: Double) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while busy.contains(id) {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }
}
