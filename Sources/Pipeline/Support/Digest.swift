import CLibAV
import Foundation

/// SHA-256 and HMAC-SHA-256 from libavutil, which the pipeline links anyway: sidecar `sha256` checks,
/// token hashes and AWS Signature V4 need nothing more.
public enum Digest {
    public static func sha256(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        let input = Array(bytes)
        let ctx = av_sha_alloc()!
        defer { av_free(UnsafeMutableRawPointer(ctx)) }
        av_sha_init(ctx, 256)
        input.withUnsafeBufferPointer { av_sha_update(ctx, $0.baseAddress, $0.count) }
        var out = [UInt8](repeating: 0, count: 32)
        av_sha_final(ctx, &out)
        return out
    }

    public static func sha256Hex(_ string: String) -> String { hex(sha256(Array(string.utf8))) }

    public static func sha256Hex(_ bytes: some Sequence<UInt8>) -> String { hex(sha256(bytes)) }

    /// Streams a file through SHA-256 (1 MiB at a time); blocking, so call it on a dedicated thread.
    public static func sha256Hex(fileAt path: String) throws(PipelineError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw .io(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        let ctx = av_sha_alloc()!
        defer { av_free(UnsafeMutableRawPointer(ctx)) }
        av_sha_init(ctx, 256)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, reason: String(cString: strerror(errno)))
            }
            av_sha_update(ctx, buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), n)
        }
        var out = [UInt8](repeating: 0, count: 32)
        av_sha_final(ctx, &out)
        return hex(out)
    }

    public static func hmacSHA256(key: [UInt8], data: [UInt8]) -> [UInt8] {
        let ctx = av_hmac_alloc(AV_HMAC_SHA256)!
        defer { av_hmac_free(ctx) }
        var out = [UInt8](repeating: 0, count: 32)
        _ = data.withUnsafeBufferPointer { d in
            key.withUnsafeBufferPointer { k in
                av_hmac_calc(ctx, d.baseAddress, UInt32(d.count), k.baseAddress, UInt32(k.count), &out, 32)
            }
        }
        return out
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
