import CInboxd
import Foundation
import HTTPKit
import Logging
import NIOPosix
import Store

/// Puts a fully received upload into `incoming/` in the order the watcher relies on: media (and thumbnail) renamed
/// into place first, then the db row (`record`), then the sidecar renamed into place last, so the drop becomes
/// claimable only when everything is there. Every file is created under a dot-name first (dot files are never
/// claimed). On any failure the placed files go back to their temp paths (the caller removes or keeps them) and the
/// sidecar's temp file is removed.
struct DropCommitter: Sendable {
    let incoming: String
    let pool: NIOThreadPool

    /// A spooled file and the name it gets in `incoming/`.
    struct Placement: Sendable {
        var tempPath: String
        var finalName: String
    }

    func commit(sidecar: UploadSidecar, sidecarName: String, files: [Placement],
                record: @Sendable () async throws -> Void) async throws {
        let incoming = self.incoming
        let sidecarTemp = "\(incoming)/.upload-\(sidecar.video_id).sidecar"
        let sidecarFinal = "\(incoming)/\(sidecarName)"
        let data = try sidecar.encoded()
        var placed: [Placement] = []
        do {
            try await pool.runIfActive { try SpoolError.io { try FileSystem.writeFile(sidecarTemp, Array(data), durable: true) } }
            for file in files {
                try await Self.renameNoReplace(file.tempPath, "\(incoming)/\(file.finalName)", pool: pool)
                placed.append(file)
            }
            try await record()
            try await Self.renameNoReplace(sidecarTemp, sidecarFinal, pool: pool)
            // The renames live in the directory: make them durable before the answer is sent.
            try await pool.runIfActive { try SpoolError.io { try FileSystem.syncDirectory(incoming) } }
        } catch {
            let moved = placed
            _ = try? await pool.runIfActive {
                for file in moved where rename("\(incoming)/\(file.finalName)", file.tempPath) != 0 { unlink("\(incoming)/\(file.finalName)") }
                unlink(sidecarTemp)
            }
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
