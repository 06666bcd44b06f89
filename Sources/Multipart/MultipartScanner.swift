import CInboxd
import NIOCore

/// A streaming multipart/form-data scanner (RFC 7578 / RFC 2046 §5.1): feed it the body chunk by chunk and it
/// reports part headers and zero-copy slices of part bodies, so a 1 GiB file part is never held in memory.
///
/// It searches for `CRLF "--" boundary` with `memmem` and carries only the last `delimiter.count - 1` bytes (or an
/// incomplete header block, at most `maxHeaderBytes`) into the next chunk. Parsing starts with a virtual CRLF so the
/// first boundary, which has no CRLF before it, needs no special case.
public struct MultipartScanner {
    public enum Event {
        case partBegin(MultipartPartHeaders)
        /// A piece of the current part's body; shares storage with the fed chunk (copy it if you keep it).
        case body(ByteBuffer)
        case partEnd
    }

    private enum State { case preamble, afterDelimiter, headers, body, epilogue }

    public let maxHeaderBytes: Int
    private let delimiter: [UInt8]
    private var state: State = .preamble
    private var carry: ByteBuffer

    public init(boundary: String, maxHeaderBytes: Int = 16 * 1024) {
        self.delimiter = Array("\r\n--\(boundary)".utf8)
        self.maxHeaderBytes = maxHeaderBytes
        self.carry = ByteBuffer(bytes: [13, 10])
    }

    /// True once the closing delimiter (`--boundary--`) has been seen.
    public var isComplete: Bool { state == .epilogue }

    public mutating func feed(_ chunk: ByteBuffer, _ onEvent: (Event) throws -> Void) throws {
        if state == .epilogue { return }
        var buf: ByteBuffer
        if carry.readableBytes == 0 {
            buf = chunk
        } else if state == .body, chunk.readableBytes >= delimiter.count - 1 {
            // The common case of a large part: only a delimiter that starts in the carry needs the two joined, so
            // it is looked for in the carry plus the chunk's first bytes, and the chunk itself is scanned uncopied.
            buf = chunk
            try scanJoint(&buf, onEvent)
        } else {
            // A fresh exact-size buffer: appending to the shared carry would trigger copy-on-write of old storage.
            buf = ByteBuffer()
            buf.reserveCapacity(carry.readableBytes + chunk.readableBytes)
            buf.writeImmutableBuffer(carry)
            buf.writeImmutableBuffer(chunk)
        }
        try scan(&buf, onEvent)
        carry = buf.readableBytes == 0 ? ByteBuffer() : ByteBuffer(bytes: buf.readableBytesView)
    }

    /// Call at the end of the body: a body that stopped before its closing delimiter is malformed.
    public func finish() throws {
        guard state == .epilogue else {
            throw MultipartError.missingFinalBoundary
        }
    }

    private mutating func scan(_ buf: inout ByteBuffer, _ onEvent: (Event) throws -> Void) throws {
        while true {
            switch state {
            case .preamble:
                guard let at = find(delimiter, in: buf) else {
                    keepTail(&buf, delimiter.count - 1)
                    return
                }
                buf.moveReaderIndex(forwardBy: at + delimiter.count)
                state = .afterDelimiter

            case .afterDelimiter:
                guard buf.readableBytes >= 2 else { return }
                if buf.readableBytesView.starts(with: [45, 45]) {  // "--": the closing delimiter
                    buf.moveReaderIndex(to: buf.writerIndex)
                    state = .epilogue
                    return
                }
                // Transport padding (spaces/tabs) may follow the boundary before its CRLF.
                guard let crlf = find([13, 10], in: buf) else {
                    if buf.readableBytes > 256 { throw MultipartError.malformedBoundaryLine }
                    return
                }
                let padding = buf.readableBytesView.prefix(crlf)
                guard padding.allSatisfy({ $0 == 32 || $0 == 9 }) else { throw MultipartError.malformedBoundaryLine }
                buf.moveReaderIndex(forwardBy: crlf + 2)
                state = .headers

            case .headers:
                let end: Int
                let blockLength: Int
                if buf.readableBytesView.starts(with: [13, 10]) {
                    end = 0
                    blockLength = 2
                } else if let at = find([13, 10, 13, 10], in: buf) {
                    end = at
                    blockLength = at + 4
                } else {
                    if buf.readableBytes > maxHeaderBytes { throw MultipartError.headersTooLarge(limit: maxHeaderBytes) }
                    return
                }
                if end > maxHeaderBytes { throw MultipartError.headersTooLarge(limit: maxHeaderBytes) }
                let block = buf.getString(at: buf.readerIndex, length: end) ?? ""
                buf.moveReaderIndex(forwardBy: blockLength)
                try onEvent(.partBegin(try MultipartPartHeaders(block: block)))
                state = .body

            case .body:
                if let at = find(delimiter, in: buf) {
                    if at > 0 { try onEvent(.body(buf.readSlice(length: at)!)) }
                    buf.moveReaderIndex(forwardBy: delimiter.count)
                    try onEvent(.partEnd)
                    state = .afterDelimiter
                } else {
                    let safe = buf.readableBytes - (delimiter.count - 1)
                    if safe > 0 { try onEvent(.body(buf.readSlice(length: safe)!)) }
                    return
                }

            case .epilogue:
                buf.moveReaderIndex(to: buf.writerIndex)
                return
            }
        }
    }

    /// In `.body` with a carry: reports the carry as body, or the part's end when a delimiter starts in it, and
    /// moves `chunk`'s reader past what that consumed. `chunk` holds at least `delimiter.count - 1` bytes, so every
    /// delimiter that starts in the carry ends in `window`.
    private mutating func scanJoint(_ chunk: inout ByteBuffer, _ onEvent: (Event) throws -> Void) throws {
        var window = ByteBuffer()
        window.reserveCapacity(carry.readableBytes + delimiter.count - 1)
        window.writeImmutableBuffer(carry)
        window.writeImmutableBuffer(chunk.getSlice(at: chunk.readerIndex, length: delimiter.count - 1)!)
        guard let at = find(delimiter, in: window) else {
            try onEvent(.body(carry))
            return
        }
        if at > 0 { try onEvent(.body(window.readSlice(length: at)!)) }
        chunk.moveReaderIndex(forwardBy: at + delimiter.count - carry.readableBytes)
        try onEvent(.partEnd)
        state = .afterDelimiter
    }

    private func keepTail(_ buf: inout ByteBuffer, _ count: Int) {
        if buf.readableBytes > count { buf.moveReaderIndex(forwardBy: buf.readableBytes - count) }
    }

    private func find(_ needle: [UInt8], in buf: ByteBuffer) -> Int? {
        buf.withUnsafeReadableBytes { hay -> Int? in
            guard hay.count >= needle.count, let base = hay.baseAddress else { return nil }
            return needle.withUnsafeBytes { n -> Int? in
                guard let hit = inboxd_memmem(base, hay.count, n.baseAddress, n.count) else { return nil }
                return base.distance(to: UnsafeRawPointer(hit))
            }
        }
    }
}

extension MultipartScanner {
    /// The boundary of a `multipart/form-data; boundary=…` Content-Type, validated per RFC 2046 (1–70 chars).
    public static func boundary(fromContentType contentType: String) throws -> String {
        let params = HeaderParameters.parse(contentType)
        guard let boundary = params["boundary"], (1...70).contains(boundary.utf8.count) else { throw MultipartError.invalidBoundary }
        return boundary
    }
}
