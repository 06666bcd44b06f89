import CInboxd
import Foundation
@testable import InboxDaemon
import NIOCore
import NIOPosix
import TestSupport
import Testing

/// The receiver's spool file on a real filesystem: direct I/O (whole 4 KiB blocks from aligned staging buffers, the
/// tail through the page cache) and buffered writes must both leave exactly the bytes received, whatever the sizes
/// and however the body was cut into pieces.
@Suite struct SpoolFileTests {
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        return pool
    }()

    /// Sizes around the block size, the staging buffer and its multiples.
    static let sizes: [Int] = {
        let batch = SpoolFile.directBatchBytes
        return [0, 1, 4095, 4096, 4097, batch - 1, batch, batch + 1, 2 * batch + 3 * 4096 + 17, 4 * batch + 5]
    }()

    /// Whether `dir`'s filesystem takes O_DIRECT, asked the way the spool asks it.
    static func directIOWorks(in dir: String) -> Bool {
        let probe = "\(dir)/.probe"
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        defer {
            close(fd)
            unlink(probe)
        }
        return fd >= 0 && inboxd_set_direct_io(fd, 1) == 0
    }

    /// `data` as pieces of the given sizes (cycled), each a slice at an odd offset of a bigger buffer, as the
    /// multipart scanner hands them over (never aligned in memory).
    static func pieces(_ data: [UInt8], sizes: [Int]) -> [ByteBuffer] {
        var out: [ByteBuffer] = []
        var at = 0, i = 0
        while at < data.count {
            let n = min(sizes[i % sizes.count], data.count - at)
            var backing = ByteBuffer(bytes: [0, 1, 2])
            backing.writeBytes(data[at..<(at + n)])
            backing.moveReaderIndex(forwardBy: 3)
            out.append(backing)
            at += n
            i += 1
        }
        return out
    }

    @Test(arguments: [true, false])
    func everySizeAndEveryWayOfCuttingItArrivesExactly(direct: Bool) async throws {
        let dir = try TempDir("spool")
        defer { dir.remove() }
        let expectDirect = direct && Self.directIOWorks(in: dir.path)
        var rng = SystemRandomNumberGenerator()
        let cuts: [[Int]] = [[Int.max], [65_536], [4093], [1, 262_144, 7, SpoolFile.directBatchBytes - 1],
                             (0..<64).map { _ in Int.random(in: 1...300_000, using: &rng) }]
        for size in Self.sizes {
            let data = [UInt8](FileHandle(forReadingAtPath: "/dev/urandom")!.readData(ofLength: size))
            for (c, cut) in cuts.enumerated() {
                let path = "\(dir.path)/s\(size)-c\(c)"
                var spool = try await SpoolFile.create(at: path, pool: Self.pool, direct: direct)
                #expect(spool.isDirect == expectDirect, "direct I/O on \(dir.path): asked \(direct)")
                for piece in Self.pieces(data, sizes: cut) { try await spool.append(piece) }
                try await spool.finish()
                #expect(spool.bytesWritten == Int64(size))
                let written = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
                #expect(written.count == size, "size \(size), cut \(c)")
                #expect(written == data, "size \(size), cut \(c): the bytes differ")
                unlink(path)
            }
        }
    }

    @Test func aDiscardedSpoolLeavesNoFileEvenWithAWriteInFlight() async throws {
        let dir = try TempDir("spool")
        defer { dir.remove() }
        let path = "\(dir.path)/.upload-x.video"
        var spool = try await SpoolFile.create(at: path, pool: Self.pool)
        for piece in Self.pieces([UInt8](repeating: 7, count: (5 << 20) + 3), sizes: [65_536]) { try await spool.append(piece) }
        await spool.discard()
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test func anExistingFileIsNeverOverwritten() async throws {
        let dir = try TempDir("spool")
        defer { dir.remove() }
        let path = "\(dir.path)/taken"
        try Data("keep".utf8).write(to: URL(fileURLWithPath: path))
        await #expect(throws: SpoolError.self) { _ = try await SpoolFile.create(at: path, pool: Self.pool) }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "keep")
    }
}
