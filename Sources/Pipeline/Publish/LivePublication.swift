import Foundation
import Logging
import Synchronization

/// Publishes a conversion's output directory while it grows, so a video is watchable before it is finished.
///
/// The converter (`HLSMuxer`) renames every finished segment and every rewritten playlist into place; a pass every
/// `interval` (250 ms: a few `stat`s and small reads, negligible next to ≥ 1 s segments, and simpler than inotify
/// watches on rendition directories that appear later) publishes, per rendition, the newly listed segments first,
/// then the playlist, and the master once every rendition it names has a published playlist with a segment. So a
/// reader never finds a playlist naming a missing object.
///
/// An EVENT playlist may only grow. A re-run after a crash starts again from segment 0 over what the crashed
/// attempt published: its segments are overwritten under the same names (same input, same cuts), but a
/// rendition's playlist is re-published only once it lists more segments than the published one does.
public final class LivePublication: Sendable {
    public enum Event: Sendable, Equatable {
        /// The master is published: the video is playable at this URL.
        case playable(masterURL: String)
        /// `segments` segments of the first rendition are listed in its published playlist.
        case published(segments: Int)
    }

    private enum Phase { case converting, converted, abandoned }

    private struct Rendition {
        /// Segments listed in the playlist published before this attempt (nil: not read yet).
        var floor: Int?
        /// Segments listed in what is published now, by this attempt or an earlier one.
        var listed = 0
        var uploaded: Set<String> = []
        var lastPublished: String?
    }

    private struct State {
        var phase = Phase.converting
        var renditions: [String: Rendition] = [:]
        var masterPublished = false
    }

    static let master = "master.m3u8"

    private let directory: String
    private let target: any LiveTarget
    private let interval: Duration
    private let onEvent: @Sendable (Event) -> Void
    private let logger: Logger
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)

    public init(directory: String, target: any LiveTarget, interval: Duration = .milliseconds(250), logger: Logger,
                onEvent: @escaping @Sendable (Event) -> Void) {
        self.directory = directory
        self.target = target
        self.interval = interval
        self.logger = logger
        self.onEvent = onEvent
    }

    /// The converter has finished (playlists end with ENDLIST, VOD): `run` makes its last pass and returns.
    public func converted() { finish(.converted) }

    /// The conversion failed: `run` stops after its current pass, publishing nothing more.
    public func abandon() { finish(.abandoned) }

    private func finish(_ phase: Phase) {
        state.withLock { $0.phase = phase }
        wake.signal()
    }

    /// Blocking (a dedicated thread): passes until `converted()`, then the last pass; returns the master's URL.
    /// A failure cancels `control`, so the conversion stops too, and is rethrown.
    public func run(control: JobControl) throws(PipelineError) -> String {
        do throws(PipelineError) {
            while true {
                let phase = state.withLock { $0.phase }
                switch phase {
                case .abandoned:
                    throw PipelineError.cancelled(reason: control.cancelReason ?? "the conversion failed")
                case .converted:
                    try pass(final: true, control: control)
                    target.finished()
                    return target.url(of: Self.master)
                case .converting:
                    try pass(final: false, control: control)
                    _ = wake.wait(timeout: .now() + .nanoseconds(Int(interval / .nanoseconds(1))))
                }
            }
        } catch {
            if state.withLock({ $0.phase }) != .abandoned, !control.isCancelled {
                control.cancel(.other("live publishing failed: \(error)"))
            }
            throw error
        }
    }

    /// One look at the directory. The final pass publishes everything and requires the master.
    func pass(final: Bool, control: JobControl) throws(PipelineError) {
        try control.check()
        let masterText = read(Self.master)
        let variants = masterText.map(Self.uris) ?? []
        let names = Set(variants).union(renditionPlaylists())
        var playlists: [(name: String, text: String, segments: [String])] = []
        for name in names.sorted() {
            guard let text = read(name) else { continue }
            playlists.append((name, text, Self.uris(text)))
        }

        // 1. Segments listed and not yet uploaded by this attempt.
        var files: [LiveFile] = []
        var uploading: [(String, String)] = []
        for playlist in playlists {
            let uploaded = state.withLock { $0.renditions[playlist.name]?.uploaded ?? [] }
            for segment in playlist.segments where !uploaded.contains(segment) {
                let relative = Self.sibling(segment, of: playlist.name)
                files.append(LiveFile(path: "\(directory)/\(relative)", relativePath: relative))
                uploading.append((playlist.name, segment))
            }
        }
        if !files.isEmpty {
            try target.put(files, control: control)
            state.withLock { s in for (name, segment) in uploading { s.renditions[name, default: Rendition()].uploaded.insert(segment) } }
        }

        // 2. Playlists that grew past what is published (an EVENT playlist only grows), or the finished ones.
        var grown: [LiveFile] = []
        var counts: [(String, String, Int)] = []
        for playlist in playlists {
            let floor = try self.floor(of: playlist.name, control: control)
            let rendition = state.withLock { $0.renditions[playlist.name] ?? Rendition() }
            guard rendition.lastPublished != playlist.text else { continue }
            let ended = playlist.text.contains("#EXT-X-ENDLIST")
            guard playlist.segments.count > floor || (final && ended) else { continue }
            if playlist.segments.count < floor {
                logger.warning("the finished playlist lists fewer segments than an earlier attempt published", metadata: [
                    "hls.playlist": "\(playlist.name)", "hls.segments": "\(playlist.segments.count)", "hls.published": "\(floor)",
                ])
            }
            grown.append(LiveFile(path: "\(directory)/\(playlist.name)", relativePath: playlist.name, changing: !ended))
            counts.append((playlist.name, playlist.text, playlist.segments.count))
        }
        if !grown.isEmpty {
            try target.put(grown, control: control)
            state.withLock { s in
                for (name, text, count) in counts {
                    s.renditions[name, default: Rendition()].lastPublished = text
                    s.renditions[name, default: Rendition()].listed = count
                }
            }
            if let first = variants.first ?? playlists.first?.name, let count = counts.first(where: { $0.0 == first })?.2 {
                onEvent(.published(segments: count))
            }
        }

        // 3. The master, once every rendition it names is playable; again at the end (final BANDWIDTH).
        guard let masterText else {
            if final { throw .publish(target: directory, reason: "the conversion left no \(Self.master) to publish") }
            return
        }
        let (ready, alreadyPublished) = state.withLock { s in
            (variants.allSatisfy { (s.renditions[$0]?.listed ?? 0) > 0 }, s.masterPublished)
        }
        guard !variants.isEmpty, ready, final || !alreadyPublished else {
            if final { throw .publish(target: directory, reason: "\(Self.master) names a rendition with no segment: \(masterText)") }
            return
        }
        try target.put([LiveFile(path: "\(directory)/\(Self.master)", relativePath: Self.master, changing: !final)], control: control)
        state.withLock { $0.masterPublished = true }
        if !alreadyPublished { onEvent(.playable(masterURL: target.url(of: Self.master))) }
    }

    /// How many segments the playlist published before this attempt lists (read once per rendition); that many
    /// count as listed, so a master naming the rendition is already consistent.
    private func floor(of name: String, control: JobControl) throws(PipelineError) -> Int {
        if let floor = state.withLock({ $0.renditions[name]?.floor }) { return floor }
        let published = try target.publishedText(name, control: control).map(Self.uris)?.count ?? 0
        if published > 0 {
            logger.notice("an earlier attempt published part of this rendition; its playlist grows from there",
                          metadata: ["hls.playlist": "\(name)", "hls.published": "\(published)"])
        }
        state.withLock { s in
            s.renditions[name, default: Rendition()].floor = published
            s.renditions[name, default: Rendition()].listed = max(s.renditions[name, default: Rendition()].listed, published)
        }
        return published
    }

    /// `<rendition>/index.m3u8` of every rendition directory so far.
    private func renditionPlaylists() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { !$0.hasPrefix(".") }.map { "\($0)/index.m3u8" }
            .filter { FileManager.default.fileExists(atPath: "\(directory)/\($0)") }
    }

    private func read(_ relativePath: String) -> String? {
        try? String(contentsOfFile: "\(directory)/\(relativePath)", encoding: .utf8)
    }

    /// The files a playlist names, in order: an fMP4 rendition's init segment (`#EXT-X-MAP:URI="init.mp4"`, which
    /// must be published before the segments that need it), then the URI lines (segments of a media playlist,
    /// variants of a master).
    static func uris(_ text: String) -> [String] {
        var uris: [String] = []
        for line in text.split(whereSeparator: \.isNewline).map({ $0.trimmingCharacters(in: .whitespaces) }) where !line.isEmpty {
            if line.hasPrefix("#EXT-X-MAP:") {
                if let start = line.range(of: "URI=\""), let end = line[start.upperBound...].firstIndex(of: "\""),
                   case let uri = String(line[start.upperBound..<end]), !uris.contains(uri) {
                    uris.append(uri)
                }
            } else if !line.hasPrefix("#") {
                uris.append(line)
            }
        }
        return uris
    }

    /// A segment URI relative to its playlist, as a path relative to the video's root.
    static func sibling(_ uri: String, of playlist: String) -> String {
        let dir = (playlist as NSString).deletingLastPathComponent
        return dir.isEmpty ? uri : "\(dir)/\(uri)"
    }
}
