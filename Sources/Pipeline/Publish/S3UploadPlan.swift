import Foundation

/// One file of a job directory and the object it becomes.
struct S3Object: Sendable {
    var path: String
    var relativePath: String
    var key: String
    var size: Int64
    /// A playlist that will still change while the job runs (live publishing).
    var changing = false

    var contentType: String { S3UploadPlan.contentType(for: relativePath) }
    var cacheControl: String { changing ? S3UploadPlan.changingPlaylistCacheControl : S3UploadPlan.cacheControl(for: relativePath) }
}

/// Which objects go up, in which order. Players must never find a playlist that names a missing object, so
/// media (segments, init.mp4, thumbnail) go first, then the rendition playlists, then `master.m3u8`.
struct S3UploadPlan: Sendable {
    let phases: [[S3Object]]

    var objects: [S3Object] { phases.flatMap { $0 } }
    var totalBytes: Int64 { objects.reduce(0) { $0 + $1.size } }

    /// Every regular, non-hidden file under `directory` (symlinks are not followed), keyed as `keyPrefix/relative`.
    init(directory: String, keyPrefix: String) throws(PipelineError) {
        let root = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .io(path: root, reason: "not a directory")
        }
        var found: [S3Object] = []
        try Self.walk(root: root, relative: "", keyPrefix: Self.trimSlashes(keyPrefix), into: &found)
        guard !found.isEmpty else { throw .io(path: root, reason: "nothing to publish: the directory has no files") }
        found.sort { $0.relativePath < $1.relativePath }
        let isPlaylist = { (o: S3Object) in o.relativePath.hasSuffix(".m3u8") }
        phases = [
            found.filter { !isPlaylist($0) },
            found.filter { isPlaylist($0) && $0.relativePath != "master.m3u8" },
            found.filter { $0.relativePath == "master.m3u8" },
        ].filter { !$0.isEmpty }
    }

    private static func walk(root: String, relative: String, keyPrefix: String, into found: inout [S3Object])
        throws(PipelineError)
    {
        let dir = relative.isEmpty ? root : "\(root)/\(relative)"
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: dir) } catch {
            throw .io(path: dir, reason: "cannot list directory: \(error.localizedDescription)")
        }
        for name in names where !name.hasPrefix(".") {
            let rel = relative.isEmpty ? name : "\(relative)/\(name)"
            let path = "\(root)/\(rel)"
            var st = stat()
            guard lstat(path, &st) == 0 else { throw .io(path: path, reason: String(cString: strerror(errno))) }
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                try walk(root: root, relative: rel, keyPrefix: keyPrefix, into: &found)
            case S_IFREG:
                let key = keyPrefix.isEmpty ? rel : "\(keyPrefix)/\(rel)"
                found.append(S3Object(path: path, relativePath: rel, key: key, size: Int64(st.st_size)))
            default:
                continue
            }
        }
    }

    static func trimSlashes(_ s: String) -> String {
        String(s.drop { $0 == "/" }.reversed().drop { $0 == "/" }.reversed())
    }

    static func contentType(for name: String) -> String {
        switch (name as NSString).pathExtension.lowercased() {
        case "m3u8": "application/vnd.apple.mpegurl"
        case "ts": "video/mp2t"
        case "m4s": "video/iso.segment"
        case "mp4": "video/mp4"
        case "m4a": "audio/mp4"
        case "aac": "audio/aac"
        case "vtt": "text/vtt"
        case "jpg", "jpeg": "image/jpeg"
        case "png": "image/png"
        case "json": "application/json"
        default: "application/octet-stream"
        }
    }

    /// An EVENT playlist (or a master) re-put while the job runs: a player polling it must see new segments within
    /// about a segment's length.
    static let changingPlaylistCacheControl = "public, max-age=1"

    /// Segments never change under their name; playlists may be rewritten by a re-publish, so caches keep them
    /// briefly; anything else (the thumbnail) an hour.
    static func cacheControl(for name: String) -> String {
        switch (name as NSString).pathExtension.lowercased() {
        case "m3u8": "public, max-age=5"
        case "ts", "m4s", "mp4", "m4a", "aac", "vtt": "public, max-age=31536000, immutable"
        default: "public, max-age=3600"
        }
    }
}
