import Foundation
import TestSupport
import Testing

/// The polling scanner (`scan_interval_seconds`) for shared filesystems such as NFS, where inotify never reports
/// another host's writes. `inotify = false` makes a daemon as blind to events as an NFS client is to other hosts:
/// everything it claims, the scanner found.
@Suite(.serialized) struct ScannerTests {
    private static let blind = """
        inotify = false
        scan_interval_seconds = 0.5
        """

    @Test func withoutInotifyTheScannerFindsDropsAndWaitsForAnInPlaceWriterToGoQuiet() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 2, width: 160, height: 120)
        let data = try Data(contentsOf: URL(fileURLWithPath: src))
        var options = DaemonHarness.Options()
        options.settleSeconds = 2
        options.extraTOML = Self.blind
        let d = try DaemonHarness(options)
        defer { d.cleanUp() }
        try d.start()
        #expect(d.logText().contains("inbox.inotify=false"), "the daemon says it does not use inotify")

        // A copied drop, and one in a user directory made after the start (no watch could ever exist for it).
        try d.drop(media: src, as: "copied.mp4", sidecar: ["title": "copied"])
        try FileManager.default.createDirectory(atPath: d.incoming + "/alice", withIntermediateDirectories: true)
        try d.drop(media: src, as: "late.mp4", sidecar: ["title": "late user dir"], subdirectory: "alice")

        // An in-place writer (as scp over NFS looks to us): pauses shorter than settle_seconds keep it unclaimed,
        // though the scanner lists it many times meanwhile.
        try d.writeSidecar(["title": "slow"], to: d.incoming + "/slow.mp4.json")
        let fd = open(d.incoming + "/slow.mp4", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        #expect(fd >= 0)
        let h = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        let chunk = (data.count + 7) / 8
        for i in 0..<8 {
            h.write(data[(i * chunk)..<min(data.count, (i + 1) * chunk)])
            Thread.sleep(forTimeInterval: 0.6)
            #expect(FileManager.default.fileExists(atPath: d.incoming + "/slow.mp4"), "not claimed while still being written (chunk \(i))")
        }
        try h.close()

        for title in ["copied", "late user dir", "slow"] {
            let j = try d.waitFor(try d.videoID(title: title))
            #expect(j["status"] as? String == "ready", "\(title): \(j)")
            _ = try Check.playable(j, sourcePath: src)
        }
        #expect(d.logText().contains("scan found files"))
        Check.inboxIsClean(d)
    }

    /// Two nodes on one shared inbox and db, both blind to each other's writes: each drop is claimed by exactly one
    /// node, and the other skips it without a word (no error, no failed row).
    @Test func twoScanningNodesClaimEachDropOnceAndTheLoserSaysNothing() throws {
        try withTwoDaemonsOnOneInbox(extraTOML: Self.blind) { a, b in
            try dropClipsAndExpectEachReadyOnce(a, count: 40, timeout: 180)
            for log in [a.logText(), b.logText()] {
                #expect(!log.contains("cannot claim"), "a lost race is not an error")
                #expect(!log.contains(" error ") && !log.contains(" critical "), "no error lines")
            }
            Check.inboxIsClean(a)
        }
    }

    /// The same two nodes, with drops that can never succeed among good ones: a rejection is a claim too, so each bad
    /// drop is failed by one node (one row, one `video.failed`, its files once in `failed/`) and the other says nothing.
    /// They scan at every watcher tick (250 ms), so each often finds a drop while the other is rejecting it.
    @Test func twoScanningNodesRejectEachBadDropOnceAndTheLoserSaysNothing() throws {
        let eager = Self.blind.replacingOccurrences(of: "scan_interval_seconds = 0.5", with: "scan_interval_seconds = 0.25")
        try withTwoDaemonsOnOneInbox(extraTOML: eager, orphanSeconds: 2) { a, b in
            try dropBadAmongGoodAndExpectEachRejectedOnce([a, b], sql: a.sql)
        }
    }
}
