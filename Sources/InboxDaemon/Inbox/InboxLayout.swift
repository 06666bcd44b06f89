import Foundation

/// The on-disk inbox contract (README, "Drops"): each stage owns one directory, and a job moves between them by
/// `rename(2)`, so a crash at any instant leaves a state the next start understands.
struct InboxLayout: Sendable {
    let root: String
    var incoming: String { root + "/incoming" }
    var processingRoot: String { root + "/processing" }
    var failedRoot: String { root + "/failed" }
    var workRoot: String { root + "/work" }
    /// Resumable (tus) uploads while their bytes arrive; on the inbox's filesystem so completing one is a rename.
    var uploadsRoot: String { root + "/uploads" }

    init(root: String) {
        self.root = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root
    }

    /// Every stage directory under the root (created at start, checked by `inboxd doctor`).
    var stages: [String] { [incoming, processingRoot, failedRoot, workRoot, uploadsRoot] }

    func processing(_ id: String) -> String { processingRoot + "/" + id }
    func failed(_ id: String) -> String { failedRoot + "/" + id }
    func work(_ id: String) -> String { workRoot + "/" + id }

    func create() throws {
        for dir in stages {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
    }
}
