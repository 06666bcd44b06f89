import Foundation
import HTTPKit
import Hummingbird
import Logging
import Metrics
import NIOCore
import Store

extension ResumableUploads {
    /// Appends one request's body at the upload's offset, under the upload's directory lock. `expected` is the
    /// client's `Upload-Offset` (nil for creation-with-upload, which starts at 0). Returns the new durable offset;
    /// on the last byte the upload becomes a drop.
    ///
    /// What arrives is kept even when the client goes away mid-body (it is `fdatasync`ed and counted, so `HEAD`
    /// reports the true durable offset), except for a chunk with `Upload-Checksum`: that one counts only whole and
    /// verified, else nothing of it is appended (460 on a mismatch).
    func receive(_ upload: UploadRow, at expected: Int64?, request: Request, checksum: TusChecksum?,
                 context: some ChannelRequestContext) async throws -> Int64 {
        let id = upload.videoID, area = self.area, length = upload.uploadLength
        guard let lock = try await pool.runIfActive({ DirectoryLock(path: area.dir(id)) }) else {
            throw APIError.refusal(Tus.locked, "locked", "upload \(id) is busy in another process")
        }
        defer { withExtendedLifetime(lock) {} }
        guard let offset = try await pool.runIfActive({ area.offset(id) }) else { throw Self.gone(upload).closing }
        if let expected, expected != offset {
            throw APIError.refusal(.conflict, "offset_mismatch", "Upload-Offset \(expected) is not the upload's offset \(offset)")
        }
        let declared = request.headers[.contentLength].flatMap { Int64($0) }
        if let declared, offset + declared > length {
            throw APIError.refusal(.contentTooLarge, "too_large",
                                   "a chunk of \(declared) bytes at offset \(offset) runs past Upload-Length (\(length))")
        }
        try limits.checkFreeSpace(declared: declared ?? (length - offset), at: area.root, what: "chunk")
        try await context.sendContinueIfExpected(request)

        let end: Int64
        do {
            end = try await append(id, at: offset, length: length, body: request.body, checksum: checksum)
        } catch let cut as ChunkCut {
            context.logger.notice("upload chunk cut short", metadata: [
                "job.id": "\(id)", "upload.offset": "\(cut.offset)", "upload.kept": "\(cut.kept)", "error": "\(cut.cause)"])
            throw cut.cause
        }
        context.logger.debug("upload chunk received", metadata: ["job.id": "\(id)", "upload.offset": "\(end)", "upload.length": "\(length)"])
        if end == length {
            do { try await complete(upload, logger: context.logger) } catch {
                // Every byte is durable: the sweeper finishes the drop (and `HEAD` already reports it whole).
                context.logger.error("cannot make a drop of a complete upload yet; retried by the upload sweeper",
                                     metadata: ["job.id": "\(id)", "error": "\(error)"])
            }
        }
        return end
    }

    private func append(_ id: String, at offset: Int64, length: Int64, body: RequestBody, checksum: TusChecksum?) async throws -> Int64 {
        let area = self.area, journal = self.journal
        if checksum != nil { try await pool.runIfActive { try SpoolError.io { try area.beginChecksummedChunk(id, at: offset) } } }
        var spool = try await SpoolFile.append(to: area.data(id), pool: pool)
        var hasher = checksum.map { ChunkHasher($0.algorithm) }
        var received: Int64 = 0
        var cut: Error?
        var lastProgress = ContinuousClock.now
        do {
            do {
                for try await chunk in body {
                    received += Int64(chunk.readableBytes)
                    if offset + received > length {
                        throw APIError.refusal(.contentTooLarge, "too_large", "the chunk runs past Upload-Length (\(length))")
                    }
                    hasher?.update(chunk)
                    try await spool.append(chunk)
                    if ContinuousClock.now - lastProgress > .milliseconds(500) {
                        lastProgress = ContinuousClock.now
                        try? await journal.recordUploadProgress(id, Double(offset + received) / Double(max(length, 1)))
                    }
                }
            } catch let e where !(e is APIError) && !(e is SpoolError) {
                cut = e  // the client went away or stalled: keep what arrived (below)
            }
            try await spool.finish()
        } catch {
            await spool.closeKeepingFile()
            _ = try? await pool.runIfActive { try area.truncate(id, to: offset) }
            if let e = error as? SpoolError { throw e.httpFailure }
            throw error
        }
        if let checksum {
            guard cut == nil, hasher?.matches(checksum) == true else {
                try await pool.runIfActive { try SpoolError.io { try area.truncate(id, to: offset) } }
                if let cut { throw ChunkCut(cause: cut, offset: offset, kept: 0) }
                throw APIError.refusal(Tus.checksumMismatch, "checksum_mismatch",
                                       "the chunk's \(checksum.algorithm.rawValue) does not match Upload-Checksum; nothing was appended")
            }
            try await pool.runIfActive { try SpoolError.io { try area.endChecksummedChunk(id) } }
        }
        let end = offset + spool.bytesWritten
        try? await journal.recordUploadOffset(id, offset: end, expiresAt: expiry())
        if let cut { throw ChunkCut(cause: cut, offset: end, kept: spool.bytesWritten) }
        return end
    }

    /// The last byte is durable: the data becomes `incoming/<id>.<ext>` and the sidecar follows (`DropCommitter`),
    /// the job leaves `receiving` for `queued` in between, and the upload's directory goes. Also finishes a drop a
    /// crash interrupted (the media already renamed in: only the row and the sidecar are left).
    func complete(_ upload: UploadRow, logger: Logger) async throws {
        let id = upload.videoID, area = self.area, journal = self.journal
        guard let text = try await journal.video(id)?.sidecar else { throw ResumableUploadError.noSidecar(id) }
        let sidecar = try JSONDecoder().decode(UploadSidecar.self, from: Data(text.utf8))
        let hasData = try await pool.runIfActive { area.hasData(id) }
        let files = hasData ? [DropCommitter.Placement(tempPath: area.data(id), finalName: upload.mediaName)] : []
        try await committer.commit(sidecar: sidecar, sidecarName: upload.mediaName + ".json", files: files) {
            try await journal.completeResumableUpload(id)
        }
        _ = try? await pool.runIfActive { area.remove(id) }
        Counter(label: "inboxd_upload_bytes_total").increment(by: upload.uploadLength)
        logger.info("Video upload accepted for background processing: \(id)", metadata: [
            "job.id": "\(id)", "user.name": "\(upload.username ?? "")", "upload.bytes": "\(upload.uploadLength)", "job.source": "tus"])
    }

    /// Ends an upload without a drop: its job fails with `reason`, then its bytes are removed.
    func end(_ upload: UploadRow, _ state: UploadState, reason: FailureReason, error: String, logger: Logger) async throws {
        let id = upload.videoID, area = self.area
        try await journal.endResumableUpload(id, state: state, error: error, reason: reason)
        _ = try? await pool.runIfActive { area.remove(id) }
        logger.error("Background processing failed for video \(id): \(error)", metadata: ["job.id": "\(id)", "failure.reason": "\(reason)"])
    }
}

/// A chunk whose body ended early (the client went away or stalled) after `kept` of its bytes were made durable.
struct ChunkCut: Error {
    let cause: Error
    let offset: Int64
    let kept: Int64
}

enum ResumableUploadError: Error, CustomStringConvertible {
    case noSidecar(String)
    var description: String {
        switch self {
        case .noSidecar(let id): "upload \(id) has no sidecar in its row"
        }
    }
}
