import Foundation
import Logging
import ServiceLifecycle
import Store
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
    /// `scan_interval_seconds`: list `incoming/` this often besides inotify (0 = never), for shared filesystems
    /// (NFS, SMB, some FUSE mounts) whose other writers inotify never reports.
    private let scanIntervalSeconds: Double
    /// `inotify = false`: discover drops by scanning only (for filesystems that refuse inotify watches).
    private let useInotify: Bool
    private let io: BlockingIO
    private let onRescan: @Sendable () async -> Void
    private let logger: Logger
    /// Beats on every batch or 250 ms tick the watcher task handles: its proof of progress for the systemd watchdog.
    let heartbeat = Heartbeat("watcher")
    /// Set once the inotify watches exist (systemd's `READY=1` waits for it).
    private let onWatching: @Sendable () -> Void

    init(layout: InboxLayout, claimer: Claimer, settleSeconds: Double, orphanSeconds: Double, allowHardLinks: Bool,
         scanIntervalSeconds: Double = 0, useInotify: Bool = true,
         io: BlockingIO, logger: Logger, onWatching: @escaping @Sendable () -> Void = {},
         onRescan: @escaping @Sendable () async -> Void) {
        self.io = io
        self.scanIntervalSeconds = scanIntervalSeconds
        self.useInotify = useInotify
        self.onWatching = onWatching
        self.layout = layout
        self.claimer = claimer
        self.settleSeconds = settleSeconds
        self.orphanSeconds = orphanSeconds
        self.allowHardLinks = allowHardLinks
        self.onRescan = onRescan
        self.logger = logger
    }

    enum Signal: Sendable {
        /// Events wait in the `EventInbox`: take them all.
        case events
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
        let inbox = EventInbox()
        let reader = WatchThread(inotify: inotify, incoming: layout.incoming, watchesDirectories: useInotify, inbox: inbox, logger: logger)
        try reader.addInitialWatches()
        let thread = Thread { reader.loop(stop: stop, continuation: continuation) }
        thread.name = "inboxd-inotify"
        thread.start()
        defer { stop.set() }

        let box = StateBox()
        continuation.yield(.rescan(lostEvents: true))
        logger.info("watching inbox", metadata: [
            "inbox.path": "\(layout.incoming)", "inbox.inotify": "\(useInotify)",
            "inbox.scan_interval_s": "\(scanIntervalSeconds)",
        ])
        onWatching()
        var nextScan = Date().timeIntervalSince1970 + scanIntervalSeconds
        for await signal in stream.cancelOnGracefulShutdown() {
            heartbeat.beat()
            let now = Date().timeIntervalSince1970
            // The polling scanner: on every signal (the inotify thread ticks every 250 ms when idle) once due.
            if scanIntervalSeconds > 0, now >= nextScan {
                nextScan = now + scanIntervalSeconds
                let incoming = layout.incoming, logger = self.logger
                _ = try? await io.run { box.state.scan(incoming: incoming, now: now, logger: logger) }
            }
            switch signal {
            case .rescan(let lostEvents):
                let incoming = layout.incoming, logger = self.logger
                _ = try? await io.run { box.state.rescan(incoming: incoming, now: now, forgetEvents: lostEvents, logger: logger) }
                await onRescan()
            case .events:
                let batch = inbox.take()
                var state = box.state
                defer { box.state = state }
                for (dir, e) in batch {
                    let ev = Inotify.Event(wd: 0, mask: e.mask, name: e.name)
                    if ev.isDirectory { continue }
                    let path = dir + "/" + e.name
                    if ev.has(IN_MOVED_FROM) || ev.has(IN_DELETE) {
                        state.files[path] = nil
                    } else {
                        if state.files[path] == nil, DropNames.isIgnored(e.name) {
                            logger.debug("ignoring a hidden or temporary file", metadata: ["drop.ignored": "\(path)"])
                        }
                        state.eventSeq += 1
                        state.files[path, default: TrackedFile(now: now)].apply(ev, now: now, seq: state.eventSeq)
                    }
                }
            case .tick:
                break
            }
            await evaluate(box, now: now)
        }
        stop.set()
    }

    /// What `judge` decided must be done for a drop; done back on the watcher task (claims write the db).
    private enum Action: Sendable {
        case claim(Claimer.Candidate, Sidecar, hasMedia: Bool)
        case reject(Claimer.Candidate, Sidecar?, FailureReason, String)
        case rejectBadName([UInt8])
    }

    /// Judges every pending drop on the blocking-I/O pool (its facts need `lstat` and reads), then carries out the
    /// claims and rejections.
    private func evaluate(_ box: StateBox, now: Double) async {
        let judge = Judge(incoming: layout.incoming, logger: logger, timing: ReadinessDecision.Timing(
            settleSeconds: settleSeconds, orphanSeconds: orphanSeconds, allowHardLinks: allowHardLinks),
            fullUsers: claimer.gate?.fullUsers ?? [])
        guard let actions = try? await io.run({ judge.run(&box.state, now: now) }) else { return }
        // Claims go in batches (one db transaction each, at most `claimBatch`), the rest one by one, in order.
        var claims: [Claimer.Claim] = []
        func flush() async {
            guard !claims.isEmpty else { return }
            for (claim, done) in zip(claims, await claimer.claim(claims)) where done { box.state.forget(claim.candidate) }
            claims.removeAll(keepingCapacity: true)
        }
        for action in actions {
            if case .claim(let candidate, let sidecar, let hasMedia) = action {
                claims.append(Claimer.Claim(candidate: candidate, sidecar: sidecar, hasMedia: hasMedia))
                if claims.count >= Self.claimBatch { await flush() }
                continue
            }
            await flush()
            switch action {
            case .claim: break
            case .reject(let candidate, let sidecar, let reason, let message):
                if await claimer.reject(candidate, sidecar: sidecar, reason: reason, message: message) { box.state.forget(candidate) }
            case .rejectBadName(let path):
                await claimer.rejectBadName(path, incoming: layout.incoming)
            }
        }
        await flush()
    }

    /// Claims per transaction in a burst: large enough that commits stop dominating, small enough that the first
    /// jobs of a 50,000-drop burst start (and show in the status API) within a fraction of a second.
    static let claimBatch = 256

    /// The blocking half of `evaluate`: gathers each pending drop's facts (`lstat`, inotify history, the sidecar once
    /// complete) and lets `ReadinessDecision.decide` judge them.
    private struct Judge: Sendable {
        let incoming: String
        let logger: Logger
        let timing: ReadinessDecision.Timing
        /// Users whose queue is full: their drops wait untouched (no sidecar read) until `QueueGate` reopens.
        let fullUsers: Set<String>

        func run(_ state: inout TrackerState, now: Double) -> [Action] {
            var actions = badNames(&state, now: now)
            for sidecarPath in state.files.keys.sorted() where DropNames.isSidecar((sidecarPath as NSString).lastPathComponent) {
                if let action = judge(sidecarPath, &state, now: now) { actions.append(action) }
            }
            return actions
        }


        private func judge(_ sidecarPath: String, _ state: inout TrackerState, now: Double) -> Action? {
            guard let tracked = state.files[sidecarPath] else { return nil }
            if let user = state.user(of: sidecarPath, incoming: incoming), fullUsers.contains(user) {
                if state.waiting.updateValue(.userQueueFull, forKey: sidecarPath) != .userQueueFull {
                    logger.debug("drop waits", metadata: ["drop.sidecar": "\(sidecarPath)", "drop.wait": "user_queue_full"])
                }
                return nil
            }
            let mediaPath = String(sidecarPath.dropLast(5))
            var facts = DropFacts(sidecarName: (sidecarPath as NSString).lastPathComponent,
                                  mediaName: (mediaPath as NSString).lastPathComponent, sidecar: tracked)
            if let st = FileSystem.status(sidecarPath) {
                facts.sidecarKind = st.kind
                facts.sidecarSize = st.size
                facts.sidecar.observe(size: st.size, mtime: st.mtime, now: now)
                state.files[sidecarPath] = facts.sidecar
            }
            if let media = FileSystem.status(mediaPath) {
                facts.mediaKind = media.kind
                facts.mediaLinks = media.links
                var mediaFile = state.files[mediaPath] ?? TrackedFile(now: now, mtime: media.mtime)
                mediaFile.observe(size: media.size, mtime: media.mtime, now: now)
                state.files[mediaPath] = mediaFile
                facts.media = mediaFile
            }
            var decision = ReadinessDecision.decide(facts, now: now, timing: timing)
            if decision == .readSidecar {
                if let bytes = try? FileSystem.readSmallFile(sidecarPath, limit: Sidecar.maxBytes) {
                    do throws(SidecarError) { facts.content = .parsed(try Sidecar.parse(bytes)) } catch { facts.content = .invalid(error) }
                } else {
                    facts.content = .unreadable
                }
                decision = ReadinessDecision.decide(facts, now: now, timing: timing)
            }
            var candidate = Claimer.Candidate(sidecarPath: sidecarPath, mediaPath: mediaPath,
                                              user: state.user(of: sidecarPath, incoming: incoming))
            var sidecar: Sidecar?
            if case .parsed(let parsed) = facts.content {
                sidecar = parsed
                if let t = parsed.thumbnail { candidate.thumbnailPath = (sidecarPath as NSString).deletingLastPathComponent + "/" + t }
            }
            switch decision {
            case .forget:
                state.files[sidecarPath] = nil
                state.waiting[sidecarPath] = nil
            case .wait(let why):
                // Logged when the reason changes, not on every tick: tests wait for this line instead of sleeping.
                if state.waiting.updateValue(why, forKey: sidecarPath) != why {
                    logger.debug("drop waits", metadata: ["drop.sidecar": "\(sidecarPath)", "drop.wait": "\(why.rawValue)"])
                }
            case .readSidecar:
                break  // decided again above with the content
            case .claim(let hasMedia):
                if let sidecar { return .claim(candidate, sidecar, hasMedia: hasMedia) }
            case .reject(let reason, let message):
                return .reject(candidate, sidecar, reason, message)
            }
            return nil
        }

        /// A file whose name is not valid UTF-8 can be no part of a drop (its sidecar's name could not be matched,
        /// nor its name stored): once it has been quiet for `settle_seconds`, it goes to `failed/` with a row naming it.
        private func badNames(_ state: inout TrackerState, now: Double) -> [Action] {
            var actions: [Action] = []
            for (path, seen) in state.badNames {
                guard let st = FileSystem.status(raw: path) else {
                    state.badNames[path] = nil
                    continue
                }
                if st.size != seen.size || st.mtime != seen.mtime {
                    state.badNames[path] = BadName(size: st.size, mtime: st.mtime, stableSince: now)
                    continue
                }
                guard now - seen.stableSince >= timing.settleSeconds else { continue }
                state.badNames[path] = nil
                actions.append(.rejectBadName(path))
            }
            return actions
        }
    }
}

/// The watcher's state, mutated only by the watcher task or by the pool job it awaits.
private final class StateBox: @unchecked Sendable {
    var state = TrackerState()
}

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
    /// Why each pending sidecar waits, to log a change once.
    var waiting: [String: ReadinessDecision.Wait] = [:]
    var eventSeq = 0

    /// Lists `incoming/` and its user directories. A directory that cannot be listed keeps what is tracked in it:
    /// a failed listing must never make the watcher forget a drop.
    /// `trustMtime`: a file seen for the first time has been quiet since its mtime (a start-up listing: files left
    /// from before); else since now (the polling scanner).
    mutating func rescan(incoming: String, now: Double, forgetEvents: Bool, logger: Logger, trustMtime: Bool = true) {
        waiting = [:]
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
                found[path] = (forgetEvents ? nil : files[path]) ?? TrackedFile(now: now, mtime: trustMtime ? st.mtime : nil)
            }
        }
        visit(incoming, depth: 0)
        for (path, file) in files where !seen.contains(path) && unlisted.contains(where: { path.hasPrefix($0) }) {
            found[path] = file
        }
        files = found
    }

    /// The polling scanner's pass: adds files inotify did not report (another host's writes on a shared
    /// filesystem) and forgets tracked files that are gone, keeping what is known of the others. A file found this
    /// way is quiet from now on, not from its mtime: another host's clock (or the file server's) may be behind ours,
    /// and a file still being written must not look settled.
    mutating func scan(incoming: String, now: Double, logger: Logger) {
        let before = Set(files.keys)
        let waitingBefore = waiting
        rescan(incoming: incoming, now: now, forgetEvents: false, logger: logger, trustMtime: false)
        waiting = waitingBefore.filter { files[$0.key] != nil }
        let found = files.keys.filter { !before.contains($0) }
        if !found.isEmpty {
            logger.debug("scan found files", metadata: ["inbox.path": "\(incoming)", "scan.new_files": "\(found.count)"])
        }
    }

    func user(of path: String, incoming: String) -> String? {
        let dir = (path as NSString).deletingLastPathComponent
        return dir == incoming ? nil : (dir as NSString).lastPathComponent
    }

    mutating func forget(_ c: Claimer.Candidate) {
        files[c.sidecarPath] = nil
        waiting[c.sidecarPath] = nil
        files[c.mediaPath] = nil
        if let t = c.thumbnailPath { files[t] = nil }
    }
}

/// The blocking inotify loop on its own thread: resolves watch descriptors to directories, adds watches for new
/// per-user subdirectories at once, and forwards batches (or a tick every 250 ms) to the watcher task.
private final class WatchThread: @unchecked Sendable {
    private let inotify: Inotify
    private let incoming: String
    /// false (`inotify = false`): no watches at all; the loop only ticks, and the scanner finds drops.
    private let watchesDirectories: Bool
    private let inbox: EventInbox
    private let logger: Logger
    private var directories: [Int32: String] = [:]
    private static let mask = UInt32(IN_CREATE | IN_OPEN | IN_MODIFY | IN_CLOSE_WRITE | IN_CLOSE_NOWRITE
        | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK)

    init(inotify: Inotify, incoming: String, watchesDirectories: Bool, inbox: EventInbox, logger: Logger) {
        self.inotify = inotify
        self.inbox = inbox
        self.incoming = incoming
        self.watchesDirectories = watchesDirectories
        self.logger = logger
    }

    func addInitialWatches() throws {
        guard watchesDirectories else { return }
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
            if !batch.isEmpty, inbox.add(batch) { continuation.yield(.events) }
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

/// Events read by the inotify thread that the watcher task has not taken yet. The thread rings (yields `.events`)
/// only when it adds to an empty inbox, and the task takes everything at its next turn: while it is busy claiming,
/// a burst's events pile up here and are judged and claimed together, in large batches, instead of one evaluation
/// (with its pool trip, transaction and queue call) per `read(2)`.
private final class EventInbox: Sendable {
    typealias Entry = (dir: String, event: InboxWatcher.InotifyEventValue)
    private let events = Mutex<[Entry]>([])

    /// Returns true when the inbox was empty: the watcher task must be told.
    func add(_ batch: [Entry]) -> Bool {
        events.withLock { events in
            defer { events.append(contentsOf: batch) }
            return events.isEmpty
        }
    }

    func take() -> [Entry] {
        events.withLock { events in
            defer { events = [] }
            return events
        }
    }
}

/// Tells a dedicated thread to finish its loop.
final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}
