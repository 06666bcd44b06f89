import Multipart
import NIOCore
import Testing

/// Collects what the scanner reports, feeding `body` in pieces of the given sizes (cycled).
private func scan(_ body: [UInt8], boundary: String = "XyZ", pieces: [Int] = [65536]) throws -> (parts: [(MultipartPartHeaders, [UInt8])], complete: Bool) {
    var scanner = MultipartScanner(boundary: boundary)
    var parts: [(MultipartPartHeaders, [UInt8])] = []
    var offset = 0
    var i = 0
    while offset < body.count {
        let n = min(pieces[i % pieces.count], body.count - offset)
        i += 1
        try scanner.feed(ByteBuffer(bytes: body[offset..<offset + n])) { event in
            switch event {
            case .partBegin(let h): parts.append((h, []))
            case .body(let b): parts[parts.count - 1].1 += Array(b.readableBytesView)
            case .partEnd: break
            }
        }
        offset += n
    }
    return (parts, scanner.isComplete)
}

private func form(_ parts: [(headers: String, body: [UInt8])], boundary: String = "XyZ", close: Bool = true) -> [UInt8] {
    var out: [UInt8] = Array("preamble to ignore\r\n".utf8)
    for p in parts {
        out += Array("--\(boundary)\r\n\(p.headers)\r\n\r\n".utf8) + p.body + Array("\r\n".utf8)
    }
    if close { out += Array("--\(boundary)--\r\nepilogue".utf8) }
    return out
}

@Suite struct MultipartScannerTests {
    let video: [UInt8] = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 7) }

    @Test func fieldsAndFileArriveIntactWhateverTheChunking() throws {
        let body = form([
            ("Content-Disposition: form-data; name=\"title\"", Array("My talk".utf8)),
            ("Content-Disposition: form-data; name=\"video\"; filename=\"talk \\\"v2\\\".mp4\"\r\nContent-Type: video/mp4", video),
        ])
        for pieces in [[1], [7, 3], [13], [4096], [65536], [body.count]] {
            let r = try scan(body, pieces: pieces)
            #expect(r.complete)
            #expect(r.parts.count == 2)
            #expect(r.parts[0].0 == MultipartPartHeaders(name: "title"))
            #expect(r.parts[0].1 == Array("My talk".utf8))
            #expect(r.parts[1].0 == MultipartPartHeaders(name: "video", filename: "talk \"v2\".mp4", contentType: "video/mp4"))
            #expect(r.parts[1].1 == video, "pieces \(pieces)")
        }
    }

    @Test func aBoundarySplitAcrossChunksIsFoundAtEveryOffset() throws {
        let body = form([("Content-Disposition: form-data; name=\"a\"", Array("0123456789".utf8)),
                         ("Content-Disposition: form-data; name=\"b\"", Array("abc".utf8))])
        for cut in 1..<body.count {
            var scanner = MultipartScanner(boundary: "XyZ")
            var values: [String: [UInt8]] = [:]
            var current = ""
            for piece in [Array(body[..<cut]), Array(body[cut...])] {
                try scanner.feed(ByteBuffer(bytes: piece)) { e in
                    switch e {
                    case .partBegin(let h): current = h.name; values[current] = []
                    case .body(let b): values[current, default: []] += Array(b.readableBytesView)
                    case .partEnd: break
                    }
                }
            }
            try scanner.finish()
            #expect(values["a"] == Array("0123456789".utf8), "cut at \(cut)")
            #expect(values["b"] == Array("abc".utf8), "cut at \(cut)")
        }
    }

    @Test func crlfAndBoundaryLookalikesInsideDataAreData() throws {
        // Ends with a prefix of the delimiter, so the real delimiter right after it overlaps a lookalike.
        let tricky = Array("line1\r\nline2\r\n--XyNotIt\r\n-XyZ\r\n\r\n--Xy\r\n--X".utf8)
        let body = form([("Content-Disposition: form-data; name=\"video\"; filename=\"a.bin\"", tricky)])
        for pieces in [[1], [2, 5], [1000]] {
            let r = try scan(body, pieces: pieces)
            #expect(r.complete)
            #expect(r.parts[0].1 == tricky, "pieces \(pieces)")
        }
    }

    /// Chunks about as long as the delimiter put its start in the bytes carried from one chunk to the next at every
    /// offset: the part still ends exactly there, and lookalikes crossing chunks stay data.
    @Test func aDelimiterStartingInTheCarriedBytesEndsThePartWhateverTheChunkSize() throws {
        let lookalikes = Array("\r\n--Xy\r\n-XyZ\r\n--X\r".utf8)
        for length in 0..<24 {
            let data = (0..<length).map { lookalikes[$0 % lookalikes.count] }
            let body = form([("Content-Disposition: form-data; name=\"video\"; filename=\"v\"", data),
                             ("Content-Disposition: form-data; name=\"title\"", Array("t".utf8))])
            for pieces in [[5], [6], [7], [8], [9], [13], [6, 1], [7, 2, 11]] {
                let r = try scan(body, pieces: pieces)
                #expect(r.complete, "length \(length), pieces \(pieces)")
                try #require(r.parts.count == 2, "length \(length), pieces \(pieces)")
                #expect(r.parts[0].1 == data && r.parts[1].1 == Array("t".utf8), "length \(length), pieces \(pieces)")
            }
        }
    }

    @Test func dataWithCrlfButNoDelimiterIsKeptWhole() throws {
        let data = Array("\r\n\r\n--Xy\r\n-\r\n--XY\r\n".utf8) + video.prefix(1000)
        let r = try scan(form([("Content-Disposition: form-data; name=\"video\"; filename=\"x\"", data)]), pieces: [3])
        #expect(r.complete)
        #expect(r.parts[0].1 == data)
    }

    @Test func aBodyWithoutItsFinalBoundaryIsRejectedAtFinish() throws {
        let body = form([("Content-Disposition: form-data; name=\"video\"; filename=\"x\"", video)], close: false)
        var scanner = MultipartScanner(boundary: "XyZ")
        try scanner.feed(ByteBuffer(bytes: body)) { _ in }
        #expect(!scanner.isComplete)
        #expect(throws: MultipartError.missingFinalBoundary) { try scanner.finish() }
    }

    @Test func malformedPartsAreRejected() throws {
        #expect(throws: MultipartError.partWithoutName) {
            _ = try scan(form([("Content-Type: text/plain", [1])]))
        }
        #expect(throws: MultipartError.self) {
            _ = try scan(form([("no colon here", [1])]))
        }
        #expect(throws: MultipartError.headersTooLarge(limit: 16 * 1024)) {
            _ = try scan(form([("Content-Disposition: form-data; name=\"a\"\r\nX-Pad: " + String(repeating: "p", count: 20_000), [1])]), pieces: [1000])
        }
        #expect(throws: MultipartError.malformedBoundaryLine) {
            _ = try scan(Array("--XyZgarbage\r\n".utf8))
        }
    }

    @Test func theBoundaryComesFromTheContentType() throws {
        #expect(try MultipartScanner.boundary(fromContentType: "multipart/form-data; boundary=------abc123") == "------abc123")
        #expect(try MultipartScanner.boundary(fromContentType: "multipart/form-data;boundary=\"a b\"") == "a b")
        #expect(throws: MultipartError.invalidBoundary) { try MultipartScanner.boundary(fromContentType: "multipart/form-data") }
        #expect(throws: MultipartError.invalidBoundary) {
            try MultipartScanner.boundary(fromContentType: "multipart/form-data; boundary=" + String(repeating: "b", count: 71))
        }
    }
}
