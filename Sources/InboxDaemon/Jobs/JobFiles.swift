import Foundation
import Pipeline
import Store

/// The files of one job directory: its sidecar, its media (nil for URL ingest) and an optional thumbnail.
struct JobFiles: Sendable {
    let sidecar: Sidecar
    let mediaPath: String?
    let thumbnailPath: String?

    init(directory: String, layout: InboxLayout) throws {
        let names = FileSystem.listDirectory(directory)
        guard let sidecarName = names.sorted().first(where: { DropNames.isSidecar($0) }) else {
            throw JobError.noSidecar(dir: directory)
        }
        sidecar = try Sidecar.parse(try FileSystem.readSmallFile(directory + "/" + sidecarName, limit: Sidecar.maxBytes))
        let mediaName = String(sidecarName.dropLast(5))
        let media = directory + "/" + mediaName
        if FileSystem.status(media) == nil, sidecar.sourceURL == nil {
            // A claim cut short between the sidecar and media renames: finish it. No origin note: from `incoming/`.
            let origin = (try? FileSystem.readSmallFile(directory + "/" + Claimer.originFile, limit: 4096))
                .map { String(decoding: $0, as: UTF8.self) } ?? layout.incoming
            try? FileSystem.renameNoReplace(origin + "/" + mediaName, media)
        }
        switch FileSystem.status(media)?.kind {
        case .regular?: mediaPath = media
        case nil: mediaPath = nil
        case let kind?: throw PipelineError.unreadableMedia(path: mediaName, reason: "not a regular file (\(kind))")
        }
        if let t = sidecar.thumbnail, FileSystem.status(directory + "/" + t)?.kind == .regular {
            thumbnailPath = directory + "/" + t
        } else {
            thumbnailPath = nil
        }
    }
}

extension JobFiles {
    /// The row of a claimed job made from its files (a claim whose row was never recorded: the claiming process died
    /// between its rename and its insert), at the priority the owner may have.
    func claimRow(id: String, store: any JobStoring) async -> VideoRow {
        var row = VideoRow(
            videoID: id, title: sidecar.title, description: sidecar.description,
            userID: sidecar.userID, username: sidecar.username, visibility: sidecar.visibility,
            source: mediaPath == nil ? .url : .drop, sourceURL: sidecar.sourceURL, sidecar: sidecar.raw)
        row.priority = await store.priority(asked: sidecar.priority, owner: row.username)
        return row
    }
}
