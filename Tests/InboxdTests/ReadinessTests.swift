import Foundation
import TestSupport
import Testing

/// Producers write drops in different ways (cp, scp/sftp in place, rsync's temp-then-rename). A drop is claimed
/// exactly when it is complete, never earlier.
@Suite(.serialized) struct ReadinessTests {
    /// Writes `data` into `path` in `chunks` pieces with `pause` seconds between them, keeping the file open
    /// throughout, as scp and sftp do.
    private func writeSlowly(_ data: Data, to path: String, chunks: Int, pause: Double, whilePaused: () throws -> Void) throws {
        let h = try openInPlace(path)
        let size = (data.count + chunks - 1) / chunks
        for i in 0..<chunks {
            let part = data[(i * size)..<min(data.count, (i + 1) * size)]
            h.write(part)
            if i < chunks - 1 {
                Thread.sleep(forTimeInterval: pause)
                try whilePaused()
            }
        }
        try h.close()
    }

    /// open(2) with O_CREAT in place, as scp/sftp servers do (Foundation's createFile writes via rename).
    private func openInPlace(_ path: String, append: Bool = false) throws -> FileHandle {
        let fd = open(path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0o644)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        return FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }

    @Test func aSidecarFirstThenMediaWrittenSlowlyInPlaceIsClaimedOnlyOnceComplete() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 4)
        let data = try Data(contentsOf: URL(fileURLWithPath: src))
        let d = try DaemonHarness()   // settle_seconds = 1
        defer { d.cleanUp() }
        try d.start()
        try d.writeSidecar(["title": "slow"], to: d.incoming + "/slow.mp4.json")
        try writeSlowly(data, to: d.incoming + "/slow.mp4", chunks: 4, pause: 1.6) {
            // Pauses are longer than settle_seconds, but the file is still open: no claim.
            let rows = try d.sql("SELECT count(*) FROM videos")
            #expect(rows == "0")
            #expect(FileManager.default.fileExists(atPath: d.incoming + "/slow.mp4"))
        }
        let id = try d.videoID(title: "slow")
        let j = try d.waitFor(id)
        #expect(j["status"] as? String == "ready", "\(j)")
        _ = try Check.playable(j, sourcePath: src)
    }

    @Test func anInPlaceWriterThatReopensTheFileIsNotClaimedWhileItKeepsWriting() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 4)
        let data = try Data(contentsOf: URL(fileURLWithPath: src))
        var options = DaemonHarness.Options()
        options.settleSeconds = 3
        let d = try DaemonHarness(options)
        defer { d.cleanUp() }
        try d.start()
        try d.writeSidecar(["title": "reopen"], to: d.incoming + "/re.mp4.json")
        // sftp-style resume: open, append a piece, close, again — with pauses shorter than the quiet time.
        let path = d.incoming + "/re.mp4"
        let size = data.count / 4 + 1
        for i in 0..<4 {
            let h = try openInPlace(path, append: true)
            h.write(data[(i * size)..<min(data.count, (i + 1) * size)])
            try h.close()
            if i < 3 {
                Thread.sleep(forTimeInterval: 1.0)
                #expect(try d.sql("SELECT count(*) FROM videos") == "0", "claimed after piece \(i)")
            }
        }
        let j = try d.waitFor(try d.videoID(title: "reopen"))
        #expect(j["status"] as? String == "ready", "\(j)")
    }

    @Test func rsyncTempNamesAreNeverClaimedAndTheRenamedFileIs() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 3)
        let data = try Data(contentsOf: URL(fileURLWithPath: src))
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        try d.start()
        let tmpMedia = d.incoming + "/.talk.mp4.Xa81Qz"
        let tmpSidecar = d.incoming + "/.talk.mp4.json.Pq02Lm"
        try writeSlowly(data, to: tmpMedia, chunks: 3, pause: 1.2) {}
        try d.writeSidecar(["title": "rsync"], to: tmpSidecar)
        // Even a complete-looking temp pair sitting there is left alone.
        try d.writeSidecar(["title": "dotfile"], to: d.incoming + "/.hidden.mp4.json")
        try FileManager.default.copyItem(atPath: src, toPath: d.incoming + "/.hidden.mp4")
        // The watcher logs each ignored name when its first event arrives: no claim can follow from those events.
        for name in [".talk.mp4.Xa81Qz", ".talk.mp4.json.Pq02Lm", ".hidden.mp4.json", ".hidden.mp4"] {
            try d.waitForLog("drop.ignored=\(d.incoming)/\(name) ")
        }
        #expect(try d.sql("SELECT count(*) FROM videos") == "0")
        #expect(rename(tmpMedia, d.incoming + "/talk.mp4") == 0)
        #expect(rename(tmpSidecar, d.incoming + "/talk.mp4.json") == 0)
        let j = try d.waitFor(try d.videoID(title: "rsync"))
        #expect(j["status"] as? String == "ready", "\(j)")
        #expect(try d.sql("SELECT count(*) FROM videos") == "1")
        #expect(FileManager.default.fileExists(atPath: d.incoming + "/.hidden.mp4"))
    }

    @Test func aSidecarWithoutMediaWaitsThenFailsAsAnOrphan() throws {
        var options = DaemonHarness.Options()
        options.orphanSeconds = 3
        let d = try DaemonHarness(options)
        defer { d.cleanUp() }
        try d.start()
        try d.writeSidecar(["title": "orphan"], to: d.incoming + "/ghost.mp4.json")
        try d.waitForLog("drop.sidecar=\(d.incoming)/ghost.mp4.json drop.wait=media_missing")
        #expect(try d.sql("SELECT count(*) FROM videos") == "0", "waits for its media first")
        let id = try d.videoID(title: "orphan", timeout: 30)
        let j = try d.waitFor(id)
        #expect(j["status"] as? String == "failed")
        #expect((j["error"] as? String ?? "").contains("no media file 'ghost.mp4'"), "\(j)")
        #expect(j["failure_reason"] as? String == "orphan", "\(j)")
        #expect(FileManager.default.fileExists(atPath: "\(d.inbox)/failed/\(id)/ghost.mp4.json"))
    }

    @Test func aPerUserSubdirectoryCreatedWhileRunningIsWatchedAndNamesTheOwner() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 2)
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        try d.start()
        try d.drop(media: src, as: "mine.mp4", sidecar: ["title": "owned", "username": "someone-else"], subdirectory: "alice")
        let id = try d.videoID(title: "owned")
        let j = try d.waitFor(id)
        #expect(j["status"] as? String == "ready", "\(j)")
        #expect(try d.sql("SELECT username FROM videos WHERE video_id='\(id)'") == "alice")
    }

    @Test func dropsPresentBeforeStartAreClaimedByTheStartupScan() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 2)
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        try d.drop(media: src, as: "early.mp4", sidecar: ["title": "early"])
        try d.drop(media: src, as: "early2.mp4", sidecar: ["title": "early2"], subdirectory: "bob")
        try d.start()
        #expect(try d.waitFor(try d.videoID(title: "early"))["status"] as? String == "ready")
        #expect(try d.waitFor(try d.videoID(title: "early2"))["status"] as? String == "ready")
    }
}

private let inotifyQueueLimit = "/proc/sys/fs/inotify/max_queued_events"

/// Overflow needs a tiny inotify queue, which only root can set (it is kernel-wide, for a moment).
@Suite(.serialized, .enabled(if: access(inotifyQueueLimit, W_OK) == 0, "needs write access to \(inotifyQueueLimit) (root)"))
struct OverflowTests {
    @Test func afterAnInotifyQueueOverflowARescanStillClaimsEveryDrop() throws {
        let limitPath = inotifyQueueLimit
        let saved = try String(contentsOfFile: limitPath, encoding: .utf8)
        try "16\n".write(toFile: limitPath, atomically: false, encoding: .utf8)
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 1, width: 64, height: 48)
        let d: DaemonHarness
        do {
            defer { try? saved.write(toFile: limitPath, atomically: false, encoding: .utf8) }
            d = try DaemonHarness()
            try d.start()
            // The limit is read at inotify_init1, which the watcher calls once it runs; only after it logs
            // "watching inbox" does its instance surely have the tiny queue.
            try d.waitForLog("watching inbox")
        }
        defer { d.cleanUp() }
        // Frozen, the daemon cannot read events, so 60 drops (several events each) overflow a queue of 16
        // whatever the machine's speed.
        d.pause()
        do {
            defer { d.resume() }
            for i in 0..<60 { try d.drop(media: src, as: "o\(i).mp4", sidecar: ["title": "overflow \(i)"]) }
        }
        _ = try eventually(timeout: 120, "60 ready jobs") { () -> Bool? in
            (try? d.sql("SELECT count(*) FROM videos WHERE status='ready'")) == "60" ? true : nil
        }
        #expect(d.logText().contains("inotify queue overflow"))
        #expect(try d.sql("SELECT count(*) FROM videos") == "60")
    }
}
