import Foundation
@testable import InboxDaemon
import Testing

/// Job ownership by OFD byte-range locks in shared lock files: the semantics the claimer, recovery and the tus area
/// relied on with one `flock` per directory, without a descriptor per job.
@Suite(.serialized) struct DirectoryLockTests {
    /// A directory of job directories, removed at the end.
    private final class Parent {
        let path = NSTemporaryDirectory() + "inboxd-locks-\(UUID().uuidString)"
        init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(atPath: path) }

        func job(_ id: String) throws -> String {
            try FileManager.default.createDirectory(atPath: path + "/" + id, withIntermediateDirectories: false)
            return path + "/" + id
        }

        func lockFile(_ hash: UInt64) -> String {
            path + "/" + DirectoryLock.directoryName + "/" + DirectoryLock.lockFileName(shard: DirectoryLock.byte(hash).shard)
        }
    }

    /// Another process (Python's `fcntl`, F_OFD_SETLK on the byte) that tries to take one byte of a lock file, reports
    /// `taken` or `busy`, and holds what it took until told to go (or killed).
    private final class OtherProcess {
        private let process = Process()
        private let input = Pipe(), output = Pipe()
        private var reader: FileHandle { output.fileHandleForReading }

        init() throws {
            let script = """
            import fcntl, os, struct, sys
            fds = {}
            for line in sys.stdin:
                cmd, path, offset = line.split()
                if path not in fds:
                    fds[path] = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
                fd = fds[path]
                kind = fcntl.F_WRLCK if cmd == "lock" else fcntl.F_UNLCK
                try:
                    fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack("hhqqi4x", kind, 0, int(offset), 1, 0))
                    print("taken" if cmd == "lock" else "released", flush=True)
                except OSError:
                    print("busy", flush=True)
            """
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments = ["-c", script]
            process.standardInput = input
            process.standardOutput = output
            try process.run()
        }

        /// "taken" or "busy".
        func lock(_ file: String, _ offset: Int64) -> String { ask("lock \(file) \(offset)") }
        func unlock(_ file: String, _ offset: Int64) -> String { ask("unlock \(file) \(offset)") }

        private func ask(_ line: String) -> String {
            input.fileHandleForWriting.write(Data((line + "\n").utf8))
            var answer = Data()
            while let byte = try? reader.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) { answer += byte }
            return String(decoding: answer, as: UTF8.self)
        }

        /// SIGKILL: the test process's threads block SIGTERM, and a child inherits that mask.
        func kill() {
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        deinit { if process.isRunning { kill() } }
    }

    @Test func aSecondHolderInThisProcessIsRefusedUntilTheFirstIsReleased() throws {
        let parent = try Parent()
        let dir = try parent.job("a")
        var first = DirectoryLock(path: dir)
        #expect(first != nil)
        #expect(DirectoryLock(path: dir) == nil, "a second holder in the same process, as flock refused it")
        #expect(DirectoryLock(path: try parent.job("b")) != nil, "another job is not affected")
        first = nil
        #expect(DirectoryLock(path: dir) != nil, "free again once released")
        _ = first
    }

    @Test func aMissingDirectoryOrASymlinkIsNotLocked() throws {
        let parent = try Parent()
        #expect(DirectoryLock(path: parent.path + "/gone") == nil)
        let target = try parent.job("real")
        try FileManager.default.createSymbolicLink(atPath: parent.path + "/link", withDestinationPath: target)
        #expect(DirectoryLock(path: parent.path + "/link") == nil)
    }

    /// Thousands of jobs held at once cost the 64 lock files' descriptors, not one each.
    @Test func manyLocksCostNoDescriptorEach() throws {
        let parent = try Parent()
        func openDescriptors() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0 }
        let before = openDescriptors()
        var held: [DirectoryLock] = []
        for i in 0..<1000 { held.append(try #require(DirectoryLock(path: try parent.job("job-\(i)")))) }
        #expect(openDescriptors() - before <= DirectoryLock.shardCount)
        let files = try FileManager.default.contentsOfDirectory(atPath: parent.path + "/" + DirectoryLock.directoryName)
        #expect(files.count == DirectoryLock.shardCount && files.allSatisfy { $0.count == 2 })
        held.removeAll()
        #expect(DirectoryLock(path: parent.path + "/job-7") != nil)
    }

    /// The hash is FNV-1a of the name: any daemon on the inbox, in any release, must pick the same byte.
    @Test func theHashIsFNV1aOfTheName() {
        #expect(DirectoryLock.hash("") == 0xcbf2_9ce4_8422_2325)
        #expect(DirectoryLock.hash("a") == 0xaf63_dc4c_8601_ec8c)
        #expect(DirectoryLock.hash("foobar") == 0x8594_4171_f739_67e8)
    }

    /// Another process holding the byte makes the job busy here; the kernel drops its lock when it dies.
    @Test func aLockHeldByAnotherProcessIsRefusedAndFreedWhenThatProcessDies() throws {
        let parent = try Parent()
        let dir = try parent.job("0b6e5c1e-job")
        let hash = DirectoryLock.hash("0b6e5c1e-job")
        try FileManager.default.createDirectory(atPath: parent.path + "/.locks", withIntermediateDirectories: true)
        let other = try OtherProcess()
        #expect(other.lock(parent.lockFile(hash), DirectoryLock.byte(hash).offset) == "taken")
        #expect(DirectoryLock(path: dir) == nil, "held by another process")
        #expect(DirectoryLock(path: try parent.job("other-job")) != nil, "only that job's byte is held")
        other.kill()
        let mine = DirectoryLock(path: dir)
        #expect(mine != nil, "a dead process's lock is gone")

        // And the other way round: a lock held here is busy for another process until it is released.
        let again = try OtherProcess()
        defer { again.kill() }
        #expect(again.lock(parent.lockFile(hash), DirectoryLock.byte(hash).offset) == "busy")
        _ = mine
    }

    /// Two names whose hashes collide share a byte: releasing one keeps the byte locked for the other.
    @Test func aCollidingHolderKeepsTheByteLockedUntilItGoesToo() throws {
        let parent = try Parent()
        let hash: UInt64 = 0x1234_5678_9abc_def0
        let byte = DirectoryLock.byte(hash)
        var x = DirectoryLock(path: try parent.job("x"), hash: hash)
        var y = DirectoryLock(path: try parent.job("y"), hash: hash)
        #expect(x != nil && y != nil, "a collision is no conflict within this process")
        let other = try OtherProcess()
        defer { other.kill() }
        #expect(other.lock(parent.lockFile(hash), byte.offset) == "busy")
        x = nil
        #expect(other.lock(parent.lockFile(hash), byte.offset) == "busy", "y still holds the byte")
        y = nil
        #expect(other.lock(parent.lockFile(hash), byte.offset) == "taken", "unlocked once both are gone")
        #expect(DirectoryLock(path: parent.path + "/x", hash: hash) == nil, "now the other process holds it")
        #expect(other.unlock(parent.lockFile(hash), byte.offset) == "released")
        #expect(DirectoryLock(path: parent.path + "/x", hash: hash) != nil)
        _ = (x, y)
    }
}
