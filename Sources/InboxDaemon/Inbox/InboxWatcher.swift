import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Watches `incoming/` and its per-user subdirectories with inotify (no polling for discovery), decides when a
/// drop is complete and hands it to the `Claimer`. On start and after an inotify queue overflow it rescans
/// `incoming/` and asks the job runner to resume abandoned jobs in `processing/`.
final class InboxWatcher: Service {
    private let layout: InboxLayout
    private let claimer: Claimer
    private let settleSeconds: Double
    private let orphanSeconds: Double
    private let allowHardLinks: Bool
    private let onRescan: @Sendable () async -> Void
    private let logger: Logger

    init(layout: InboxLayout, claimer: Claimer, settleSeconds: Double, orphanSeconds: Double, allowHardLinks: Bool,
         logger: Logger, onRescan: @escaping @Sendable () async -> Void) {
        self.layout = layout
        self.claimer = claimer
        self.settleSeconds = settleSeconds
        self.orphanSeconds = orphanSeconds
        self.allowHardLinks = allowHardLinks
        self.onRescan = onRescan
        self.logger = logger
    }

    enum Signal: Sendable {
        case events([(dir: String, event: InotifyEventValue)])
        /// List `incoming/` again; `lostEvents` after a queue overflow, when open/close counts can't be trusted.
        case rescan(lostEvents: Bool)
        case tick
    }

    struct InotifyEventValue: Sendable {
        let mask: UInt32
        let name: String
    }

    func run() async throws {
        let (stream, continuation) = AsyncStream<Signal>.makeStream(bufferingPolicy: .unbounded)
        let stop = StopFlag()
        let inotify = try Inotify()
        let reader = WatchThread(inotify: inotify, incoming: layout.incoming, logger: logger)
        try reader.addInitialWatches()
        let thread = Thread { reader.loop(stop: stop, continuation: continuation) }
        thread.name = "inboxd-inotify"
        thread.start()
        defer { stop.set() }

        var state = TrackerState()
        continuation.yield(.rescan(lostEvents: true))
        logger.info("watching inbox", metadata: ["inbox.path": "\(layout.incoming)"])
        for await signal in stream.cancelOnGracefulShutdown() {
            let now = Date().timeIntervalSince1970
            switch signal {
            case .rescan(let lostEvents):
                state.rescan(incoming: layout.incoming, now: now, forgetEvents: lostEvents, logger: logger)
                await onRescan()
            case .events(let batch):
                for (dir, e) in batch {
                    let ev = Inotify.Event(wd: 0, mask: e.mask, name: e.name)
                    if ev.isDirectory { continue }
                    let path = dir + "/" + e.name
                    if ev.has(IN_MOVED_FROM) || ev.has(IN_DELETE) {
                        state.files[path] = nil
                    } else {
                        state.eventSeq += 1
                        state.files[path, default: TrackedFile(now: now)].apply(ev, now: now, seq: state.eventSeq)
                    }
                }
            case .tick:
                break
            }
            await evaluate(&state, now: now)
        }
        stop.set()
    }

    private func evaluate(_ state: inout TrackerState, now: Double) async {
        await rejectBadNames(&state, now: now)
        for sidecarPath in state.files.keys.sorted() where DropNames.isSidecar((sidecarPath as NSString).lastPathComponent) {
            guard var sidecarFile = state.files[sidecarPath] else { continue }
            guard let st = FileSystem.status(sidecarPath) else {
                state.files[sidecarPath] = nil
                continue
            }
            let mediaPath = String(sidecarPath.dropLast(5))
            var candidate = Claimer.Candidate(sidecarPath: sidecarPath, mediaPath: mediaPath,
                                              user: state.user(of: sidecarPath, incoming: layout.incoming))
            if st.kind != .regular {
                await claimer.reject(candidate, sidecar: nil, reason: .unsafeFile, message: "sidecar \((sidecarPath as NSString).lastPathComponent) is \(Self.describe(st.kind)); inboxd only reads regular files")
                state.forget(candidate)
                continue
            }
            sidecarFile.observe(size: st.size, mtime: st.mtime, now: now)
            state.files[sidecarPath] = sidecarFile
            guard sidecarFile.openCount == 0, sidecarFile.completedAt != nil || sidecarFile.isSettled(now: now, settle: settleSeconds) else { continue }

            let parsed: Result<Sidecar, SidecarError>
            if st.size > Sidecar.maxBytes {
                parsed = .failure(.tooLarge(Int(st.size)))  // its real size: a read stops past the limit
            } else { do {
                let bytes = try FileSystem.readSmallFile(sidecarPath, limit: Sidecar.maxBytes)
                parsed = Result { () throws(SidecarError) in try Sidecar.parse(bytes) }
            } catch {
                continue // vanished or unreadable for a moment; the next event or tick retries
            } }
            let sidecar: Sidecar
            switch parsed {
            case .failure(let error):
                await claimer.reject(candidate, sidecar: nil, reason: .sidecar, message: error.description)
                state.forget(candidate)
                continue
            case .success(let s): sidecar = s
            }

            if let t = sidecar.thumbnail { candidate.thumbnailPath = (sidecarPath as NSString).deletingLastPathComponent + "/" + t }
            guard let media = FileSystem.status(mediaPath) else {
                if sidecar.sourceURL != nil {
                    if await claimer.claim(candidate, sidecar: sidecar, hasMedia: false) { state.forget(candidate) }
                } else if now - (sidecarFile.completedAt ?? sidecarFile.stableSince) >= orphanSeconds {
                    await claimer.reject(candidate, sidecar: sidecar, reason: .orphan, message: "no media file '\((mediaPath as NSString).lastPathComponent)' arrived within \(Int(orphanSeconds)) s of its sidecar, and the sidecar has no source_url")
                    state.forget(candidate)
                }
                continue
            }
            if media.kind != .regular {
                await claimer.reject(candidate, sidecar: sidecar, reason: .unsafeFile, message: "media \((mediaPath as NSString).lastPathComponent) is \(Self.describe(media.kind)); inboxd never follows links or opens non-regular files")
                state.forget(candidate)
                continue
            }
            if media.links > 1, !allowHardLinks {
                await claimer.reject(candidate, sidecar: sidecar, reason: .unsafeFile, message: "media \((mediaPath as NSString).lastPathComponent) has \(media.links) hard links; a hard link can expose a file from outside the inbox, so inboxd refuses it (copy the file instead, or set allow_hard_links = true)")
                state.forget(candidate)
                continue
            }
            var mediaFile = state.files[mediaPath] ?? TrackedFile(now: now, mtime: media.mtime)
            mediaFile.observe(size: media.size, mtime: media.mtime, now: now)
            state.files[mediaPath] = mediaFile
            if mediaFile.isClosed(before: sidecarFile.completedSeq) || mediaFile.isSettled(now: now, settle: settleSeconds) {
                if await claimer.claim(candidate, sidecar: sidecar, hasMedia: true) { state.forget(candidate) }
            }
        }
    }

    /// A file whose name is not valid UTF-8 can be no part of a drop (its sidecar's name could not be matched, nor
    /// its name stored): once it has been quiet for `settle_seconds`, it goes to `failed/` with a row naming it.
    private func rejectBadNames(_ state: inout TrackerState, now: Double) async {
        for (path, var seen) in state.badNames {
            guard let st = FileSystem.status(raw: path) else {
                state.badNames[path] = nil
                continue
            }
            if st.size != seen.size || st.mtime != seen.mtime {
                seen = BadName(size: st.size, mtime: st.mtime, stableSince: now)
                state.badNames[path] = seen
                continue
            }
            guard now - seen.stableSince >= settleSeconds else { continue }
            state.badNames[path] = nil
            await claimer.rejectBadName(path, incoming: layout.incoming)
        }
    }

    private static func describe(_ kind: FileSystem.Kind) -> String {
        switch kind {
        case .regular: "a regular file"
        case .directory: "a directory"
        case .symlink: "a symbolic link"
        case .other(let what): what
        }
    }
}

/// The watcher task's view of `incoming/`.
/// A file in `incoming/` whose name is not valid UTF-8, watched until it is quiet.
private struct BadName {
    var size: Int64
    var mtime: Double
    var stableSince: Double
}

private struct TrackerState {
    var files: [String: TrackedFile] = [:]
    /// Full paths (bytes) of files whose names are not valid UTF-8.
    var badNames: [[UInt8]: BadName] = [:]
    var eventSeq = 0

    /// Lists `incoming/` and its user directories. A directory that cannot be listed keeps what is tracked in it:
    /// a failed listing must never make the watcher forget a drop.
    mutating func rescan(incoming: String, now: Double, forgetEvents: Bool, logger: Logger) {
        var seen = Set<String>()
        var unlisted: [String] = []
        var found: [String: TrackedFile] = [:]
        func visit(_ dir: String, depth: Int) {
            let entries: [FileSystem.RawEntry]
            do { entries = try FileSystem.listRaw(dir) } catch {
                logger.error("cannot list inbox directory", metadata: ["inbox.path": "\(dir)", "error": "\(error)"])
                unlisted.append(dir + "/")
                return
            }
            for entry in entries {
                guard let name = entry.name else {
                    let path = Array((dir + "/").utf8) + entry.bytes
                    if badNames[path] == nil, let st = FileSystem.status(raw: path), st.kind != .directory {
                        badNames[path] = BadName(size: st.size, mtime: st.mtime, stableSince: now)
                    }
                    continue
                }
                if DropNames.isIgnored(name) { continue }
                let path = dir + "/" + name
                guard let st = FileSystem.status(path) else { continue }
                if st.kind == .directory {
                    if depth == 0 { visit(path, depth: 1) }
                    continue
                }
                seen.insert(path)
                found[path] = (forgetEvents ? nil : files[path]) ?? TrackedFile(now: now, mtime: st.mtime)
            }
        }
        visit(incoming, depth: 0)
        for (path, file) in files where !seen.contains(path) && unlisted.contains(where: { path.hasPrefix($0) }) {
            found[path] = file
        }
        files = found
    }

    func user(of path: String, incoming: String) -> String? {
        let dir = (path as NSString).deletingLastPathComponent
        return dir == incoming ? nil : (dir as NSString).lastPathComponent
    }

    mutating func forget(_ c: Claimer.Candidate) {
        files[c.sidecarPath] = nil
        files[c.mediaPath] = nil
        if let t = c.thumbnailPath { files[t] = nil }
    }
}

/// The blocking inotify loop on its own thread: resolves watch descriptors to directories, adds watches for new
/// per-user subdirectories at once, and forwards batches (or a tick every 250 ms) to the watcher task.
private final class WatchThread: @unchecked Sendable {
    private let inotify: Inotify
    private let incoming: String
    private let logger: Logger
    private var directories: [Int32: String] = [:]
    private static let mask = UInt32(IN_CREATE | IN_OPEN | IN_MODIFY | IN_CLOSE_WRITE | IN_CLOSE_NOWRITE
        | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK)

    init(inotify: Inotify, incoming: String, logger: Logger) {
        self.inotify = inotify
        self.incoming = incoming
        self.logger = logger
    }

    func addInitialWatches() throws {
        directories[try inotify.addWatch(incoming, mask: Self.mask)] = incoming
        for name in FileSystem.listDirectory(incoming) where !DropNames.isIgnored(name) {
            let path = incoming + "/" + name
            if FileSystem.status(path)?.kind == .directory { watchUserDirectory(path) }
        }
    }

    private func watchUserDirectory(_ path: String) {
        do {
            directories[try inotify.addWatch(path, mask: Self.mask)] = path
        } catch {
            logger.error("cannot watch user directory", metadata: ["inbox.path": "\(path)", "error": "\(error)"])
        }
    }

    func loop(stop: StopFlag, continuation: AsyncStream<InboxWatcher.Signal>.Continuation) {
        while !stop.isSet {
            let events: [Inotify.Event]
            do { events = try inotify.read(timeoutMs: 250) } catch {
                logger.error("inotify read failed", metadata: ["error": "\(error)"])
                Thread.sleep(forTimeInterval: 1)
                continue
            }
            if events.isEmpty {
                continuation.yield(.tick)
                continue
            }
            var batch: [(dir: String, event: InboxWatcher.InotifyEventValue)] = []
            var overflow = false
            var relist = false
            for e in events {
                if e.isOverflow {
                    overflow = true
                    continue
                }
                if e.nameIsInvalid {
                    // Such a name matches no tracked path: a listing sees its real bytes.
                    if e.has(IN_CREATE) || e.has(IN_MOVED_TO) || e.has(IN_CLOSE_WRITE) { relist = true }
                    continue
                }
                guard let dir = directories[e.wd] else { continue }
                if e.has(IN_IGNORED) {
                    directories[e.wd] = nil
                    continue
                }
                if e.isDirectory, dir == incoming, e.has(IN_CREATE) || e.has(IN_MOVED_TO), !DropNames.isIgnored(e.name) {
                    watchUserDirectory(dir + "/" + e.name)
                    relist = true // list it: files may have landed before the watch existed
                }
                batch.append((dir, InboxWatcher.InotifyEventValue(mask: e.mask, name: e.name)))
            }
            if !batch.isEmpty { continuation.yield(.events(batch)) }
            if overflow {
                logger.notice("inotify queue overflow; rescanning the inbox")
                continuation.yield(.rescan(lostEvents: true))
            } else if relist {
                continuation.yield(.rescan(lostEvents: false))
            }
        }
        continuation.finish()
    }
}

/// Tells a dedicated thread to finish its loop.
final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}
