import CInboxd
import Foundation
import HTTPKit
import Logging
import NIOPosix
import Store

/// Puts a fully received upload into `incoming/` in the order the watcher relies on: media (and thumbnail) renamed
/// into place first, then the db row, then the sidecar renamed into place last, so the drop becomes claimable only
/// when everything is there. Every file is created under a dot-name first (dot files are never claimed), and on any
/// failure everything this upload placed is removed again.
struct DropCommitter: Sendable {
    let incoming: String
    let pool: NIOThreadPool
    let journal: any UploadJournal

    /// A spooled file and the name it gets in `incoming/`.
    struct Placement: Sendable {
        var tempPath: String
        var finalName: String
    }

    func commit(row: VideoRow, sidecar: UploadSidecar, sidecarName: String, files: [Placement]) async throws {
        let incoming = self.incoming
        let sidecarTemp = "\(incoming)/.upload-\(row.videoID).sidecar"
        let sidecarFinal = "\(incoming)/\(sidecarName)"
        let data = try sidecar.encoded()
        var placed: [String] = []
        do {
            try await pool.runIfActive { try SpoolError.io { try FileSystem.writeFile(sidecarTemp, Array(data), durable: true) } }
            for file in files {
                let final = "\(incoming)/\(file.finalName)"
                try await Self.renameNoReplace(file.tempPath, final, pool: pool)
                placed.append(final)
            }
            try await journal.recordAcceptedUpload(row)
            try await Self.renameNoReplace(sidecarTemp, sidecarFinal, pool: pool)
            // The renames live in the directory: make them durable before the 202 is sent.
            try await pool.runIfActive { try SpoolError.io { try FileSystem.syncDirectory(incoming) } }
        } catch {
            let leftovers = placed + files.map(\.tempPath) + [sidecarTemp]
            _ = try? await pool.runIfActive { for p in leftovers { unlink(p) } }
            throw error
        }
    }

    static func renameNoReplace(_ from: String, _ to: String, pool: NIOThreadPool) async throws {
        try await pool.runIfActive {
            guard inboxd_rename_noreplace(from, to) == 0 else {
                if errno == EEXIST {
                    throw APIError(.conflict, "conflict", "\((to as NSString).lastPathComponent) already exists in the inbox")
                }
                throw SpoolError.io(call: "rename", path: to, errno: errno)
            }
        }
    }
}
