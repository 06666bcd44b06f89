import Foundation
import HTTPKit
@testable import InboxDaemon
import Testing

/// The tus headers inboxd reads, as pure functions: `Upload-Metadata`, `Upload-Checksum`, the sidecar fields.
@Suite struct TusProtocolTests {
    static func b64(_ s: String) -> String { Data(s.utf8).base64EncodedString() }

    @Test func metadataIsKeyBase64PairsDecodedAsText() throws {
        let fields = try TusMetadata.parse("title \(Self.b64("Mon talk ✓")),filename \(Self.b64("a b.mp4")), is_private")
        #expect(fields == ["title": "Mon talk ✓", "filename": "a b.mp4", "is_private": ""])
        #expect(try TusMetadata.parse(nil).isEmpty && TusMetadata.parse("  ").isEmpty)
    }

    @Test(arguments: ["title !!!", "title \(Data([0xff, 0xfe]).base64EncodedString())", "title a b c", "title \(b64("x")),title \(b64("y"))", ","])
    func malformedMetadataIsA400NamingTheProblem(_ header: String) {
        #expect(throws: APIError.self) { try TusMetadata.parse(header) }
    }

    @Test func aChecksumIsAnAlgorithmAndTheBase64OfItsDigest() throws {
        let sha1 = try #require(try TusChecksum.parse("sha1 \(Data(repeating: 1, count: 20).base64EncodedString())"))
        #expect(sha1.algorithm == .sha1 && sha1.digest == Array(repeating: 1, count: 20))
        #expect(try TusChecksum.parse(nil) == nil)
        for bad in ["md5 AAAA", "sha256", "sha256 \(Data(repeating: 1, count: 20).base64EncodedString())", "sha1 !!"] {
            #expect(throws: APIError.self, "\(bad)") { try TusChecksum.parse(bad) }
        }
    }

    @Test func theHasherMatchesOnlyTheRightDigest() throws {
        var h = ChunkHasher(.sha256)
        h.update(.init(string: "abc"))
        let right = Data(base64Encoded: "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=")!
        #expect(h.matches(TusChecksum(algorithm: .sha256, digest: Array(right))))
        #expect(!h.matches(TusChecksum(algorithm: .sha256, digest: Array(repeating: 0, count: 32))))
    }

    @Test func metadataBecomesTheDropsFieldsWithTheFileNameAsTitleWhenThereIsNone() throws {
        let r = try ResumableUploads.dropRequest(["filename": "talk.mp4", "visibility": "private", "start_s": "1.5"])
        #expect(r.title == "talk.mp4" && r.visibility == .private && r.clip?.start == 1.5)
        #expect(throws: APIError.self) { try ResumableUploads.dropRequest(["description": "no title"]) }
        #expect(throws: APIError.self) { try ResumableUploads.dropRequest(["title": "x", "visibility": "public"]) }
        #expect(throws: APIError.self) { try ResumableUploads.dropRequest(["title": "x", "duration_s": "long"]) }
    }
}
