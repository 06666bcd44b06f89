import Foundation
import TestSupport
import Testing

/// Drops made with the tools producers really use — scp (SFTP and legacy protocol), sftp and rsync over a real sshd
/// on 127.0.0.1 — each end `ready` exactly once. ReadinessTests simulates these writers with file operations; here
/// the real ones write: scp and sftp in place (create, write, close), rsync as `.NAME.XXXXXX` renamed into place.
@Suite(.serialized, .enabled(if: SSHServer.isAvailable, "\(SSHServer.unavailableReason ?? "")"))
struct SSHDropTests {
    /// A daemon (settle_seconds = 1) and a private sshd, both stopped and removed by `cleanUp`.
    private struct Rig {
        let d: DaemonHarness
        let ssh: SSHServer
        let media: MediaFactory

        init() throws {
            media = try MediaFactory()
            ssh = try SSHServer()
            d = try DaemonHarness()
            try d.start()
        }

        func cleanUp() {
            d.cleanUp()
            ssh.stop()
        }

        /// A short clip copied to `name` (the name the producer uploads under) and its sidecar `name.json`.
        func drop(_ name: String, title: String, seconds: Double = 2, width: Int = 320, height: Int = 240) throws
            -> (media: String, sidecar: String) {
            let dir = media.path(UUID().uuidString)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let src = try media.h264AAC(seconds: seconds, width: width, height: height, name: "src-\(UUID().uuidString.prefix(8)).mp4")
            try FileManager.default.copyItem(atPath: src, toPath: dir + "/" + name)
            try d.writeSidecar(["title": title], to: dir + "/" + name + ".json")
            return (dir + "/" + name, dir + "/" + name + ".json")
        }

        /// The one job titled `title` ends `ready` and plays; it was claimed once, nothing failed, and neither the
        /// drop nor a temp file is left in `incoming/`.
        @discardableResult
        func expectReadyOnce(title: String, source: String) throws -> String {
            let id = try d.videoID(title: title)
            let j = try d.waitFor(id)
            #expect(j["status"] as? String == "ready", "\(j)\n\(d.logText().suffix(3000))")
            _ = try Check.playable(j, sourcePath: source)
            #expect(try d.sql("SELECT count(*) FROM videos") == "1")
            #expect(try d.sql("SELECT count(*) FROM videos WHERE status='failed'") == "0")
            #expect(try d.sql("SELECT count(*) FROM events WHERE video_id='\(id)' AND message='claimed'") == "1")
            #expect(try d.sql("SELECT count(*) FROM events WHERE video_id='\(id)' AND status='ready'") == "1")
            Check.inboxIsClean(d)
            #expect(filesLeft(in: d.incoming).isEmpty, "left in incoming/: \(filesLeft(in: d.incoming))")
            return id
        }

        /// Every file (not directory) under `dir`, dot-files included, relative to it.
        func filesLeft(in dir: String) -> [String] {
            guard let e = FileManager.default.enumerator(atPath: dir) else { return [] }
            return e.compactMap { $0 as? String }.filter { rel in
                var isDir: ObjCBool = false
                return FileManager.default.fileExists(atPath: dir + "/" + rel, isDirectory: &isDir) && !isDir.boolValue
            }
        }
    }

    private func expectSuccess(_ r: Shell.Result, _ what: String, _ ssh: SSHServer) {
        #expect(r.status == 0, "\(what) exited \(r.status): \(r.stderr)\nsshd:\n\(ssh.log().suffix(2000))")
    }

    /// OpenSSH 9's scp (SFTP protocol) and `scp -O` (the legacy protocol many producers still use).
    @Test(arguments: [false, true]) func scpMediaThenSidecar(legacy: Bool) throws {
        let rig = try Rig()
        defer { rig.cleanUp() }
        let title = legacy ? "scp legacy protocol" : "scp sftp protocol"
        let (media, sidecar) = try rig.drop(legacy ? "legacy.mp4" : "scp.mp4", title: title)
        for file in [media, sidecar] {
            expectSuccess(try rig.ssh.scp([file], to: rig.d.incoming, legacy: legacy), "scp\(legacy ? " -O" : "") \(file)", rig.ssh)
        }
        try rig.expectReadyOnce(title: title, source: media)
    }

    @Test func sftpBatchPutsMediaThenSidecar() throws {
        let rig = try Rig()
        defer { rig.cleanUp() }
        let (media, sidecar) = try rig.drop("batch.mp4", title: "sftp batch")
        let r = try rig.ssh.sftp(batch: ["put \(media)", "put \(sidecar)"], in: rig.d.incoming)
        expectSuccess(r, "sftp -b", rig.ssh)
        try rig.expectReadyOnce(title: "sftp batch", source: media)
    }

    /// The sidecar is there first, so only the media's completeness decides. sftp's `-l` stretches a 2–3 MB clip over
    /// a few seconds, longer than settle_seconds, with the file open in sshd all the while.
    @Test func sftpSidecarFirstThenSlowMediaIsClaimedOnlyOnceComplete() throws {
        let rig = try Rig()
        defer { rig.cleanUp() }
        let (media, sidecar) = try rig.drop("late.mp4", title: "sftp sidecar first", seconds: 8, width: 640, height: 480)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: media)[.size] as? Int)
        #expect(size > 1_000_000, "the clip should take a while at 8 Mbit/s; it is \(size) bytes")
        let r = try rig.ssh.sftp(batch: ["put \(sidecar)", "put \(media)"], in: rig.d.incoming, limitKbps: 8000)
        expectSuccess(r, "sftp -b (sidecar first)", rig.ssh)
        let id = try rig.expectReadyOnce(title: "sftp sidecar first", source: media)
        #expect(try rig.d.sql("SELECT size_bytes FROM videos WHERE video_id='\(id)'") == "\(size)")
    }

    @Test func rsyncMediaThenSidecar() throws {
        let rig = try Rig()
        defer { rig.cleanUp() }
        let (media, sidecar) = try rig.drop("synced.mp4", title: "rsync")
        expectSuccess(try rig.ssh.rsync([media], to: rig.d.incoming), "rsync media", rig.ssh)
        expectSuccess(try rig.ssh.rsync([sidecar], to: rig.d.incoming), "rsync sidecar", rig.ssh)
        let id = try rig.expectReadyOnce(title: "rsync", source: media)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: media)[.size] as? Int)
        #expect(try rig.d.sql("SELECT size_bytes FROM videos WHERE video_id='\(id)'") == "\(size)")
    }

    /// One rsync of both files into `incoming/alice/`, which rsync creates: it sends names in sorted order, so
    /// `x.mp4` lands before `x.mp4.json`, and the subdirectory names the owner.
    @Test func rsyncOfBothFilesInOneCommandToAPerUserSubdirectory() throws {
        let rig = try Rig()
        defer { rig.cleanUp() }
        let (media, sidecar) = try rig.drop("x.mp4", title: "rsync alice")
        // Listed sidecar first on purpose: rsync still sorts, so the media arrives first.
        let r = try rig.ssh.rsync([sidecar, media], to: rig.d.incoming + "/alice")
        expectSuccess(r, "rsync both", rig.ssh)
        let id = try rig.expectReadyOnce(title: "rsync alice", source: media)
        #expect(try rig.d.sql("SELECT username FROM videos WHERE video_id='\(id)'") == "alice")
    }
}
