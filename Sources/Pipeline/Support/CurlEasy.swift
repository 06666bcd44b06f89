import CCurl
import Foundation

/// One libcurl easy handle plus the state its callbacks work on: an upload body read from a file range or from
/// memory, a response body kept in memory or streamed to a file descriptor, the response headers, a progress hook
/// and a connect-time address filter. `deinit` frees the handle.
///
/// A handle is used by one thread at a time (curl's rule); `reset()` between requests keeps its connection cache,
/// so a worker that reuses its handle reuses keep-alive connections. `@unchecked Sendable` only lets a handle be
/// handed to the worker thread that then owns it.
final class CurlEasy: @unchecked Sendable {
    enum Body {
        case none
        case bytes([UInt8])
        /// `length` bytes of `fd` starting at `offset`, read with `pread` (the fd is shared, positions are not).
        case file(fd: Int32, offset: Int64, length: Int64)

        var length: Int64 {
            switch self {
            case .none: 0
            case .bytes(let b): Int64(b.count)
            case .file(_, _, let length): length
            }
        }
    }

    enum Sink {
        /// Keep up to `limit` bytes in `receivedBody` (S3's XML answers); the rest is dropped.
        case memory(limit: Int)
        /// Append everything to `fd`.
        case file(fd: Int32)
    }

    /// Whether the response may be written: called once with the status code and headers before the first body byte.
    typealias BodyGate = (_ status: Int, _ headers: [String: String]) -> Bool
    /// Bytes moved so far in the current transfer; `downloadTotal` is 0 while unknown.
    struct Progress {
        var downloaded: Int64
        var downloadTotal: Int64
        var uploaded: Int64
    }

    /// Called as bytes move; return true to abort the transfer.
    typealias ProgressHook = (Progress) -> Bool
    /// Called with every address curl is about to connect to; return a reason to refuse it.
    typealias ConnectFilter = (IPAddress) -> String?

    private let handle: UnsafeMutableRawPointer
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private let errorBuffer: UnsafeMutablePointer<CChar>

    // Per-request state, cleared by `reset()`.
    private var body: Body = .none
    private var bodyPosition: Int64 = 0
    private var sink: Sink = .memory(limit: 0)
    private var gate: BodyGate?
    private var gateAsked = false
    private var progressHook: ProgressHook?
    private var connectFilter: ConnectFilter?
    /// Stop writing (and fail the transfer) once more than this many body bytes arrived.
    var maxBodyBytes: Int64?

    private(set) var receivedBody: [UInt8] = []
    private(set) var receivedBytes: Int64 = 0
    /// Response headers of the last response (lower-cased names); redirects and `100 Continue` start over.
    private(set) var responseHeaders: [String: String] = [:]
    private(set) var bodyRejected = false
    private(set) var bodyLimitExceeded = false
    private(set) var aborted = false
    private(set) var writeFailure: String?
    /// The errno behind `writeFailure`, when a syscall failed.
    private(set) var writeErrno: Int32?
    /// Why the connect filter refused an address, when it did.
    private(set) var refusal: String?

    init() throws(PipelineError) {
        Curl.globalInit()
        guard let h = curl_easy_init() else { throw .invalidArgument("curl_easy_init failed (out of memory?)") }
        handle = h
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        reset()
    }

    deinit {
        curl_easy_cleanup(handle)
        if let headerList { curl_slist_free_all(headerList) }
        errorBuffer.deallocate()
    }

    /// Clears options and per-request state; keeps live connections for reuse.
    func reset() {
        curl_easy_reset(handle)
        if let headerList { curl_slist_free_all(headerList) }
        headerList = nil
        errorBuffer[0] = 0
        body = .none
        bodyPosition = 0
        sink = .memory(limit: 0)
        gate = nil
        gateAsked = false
        progressHook = nil
        connectFilter = nil
        maxBodyBytes = nil
        receivedBody = []
        receivedBytes = 0
        responseHeaders = [:]
        bodyRejected = false
        bodyLimitExceeded = false
        aborted = false
        writeFailure = nil
        writeErrno = nil
        refusal = nil

        let me = Unmanaged.passUnretained(self).toOpaque()
        set(CURLOPT_NOSIGNAL, 1)
        inboxd_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer)
        inboxd_curl_setopt_write_callback(handle, CURLOPT_WRITEFUNCTION) { data, size, count, user in
            Unmanaged<CurlEasy>.fromOpaque(user!).takeUnretainedValue().write(data, size * count)
        }
        inboxd_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, me)
        inboxd_curl_setopt_write_callback(handle, CURLOPT_HEADERFUNCTION) { data, size, count, user in
            Unmanaged<CurlEasy>.fromOpaque(user!).takeUnretainedValue().header(data, size * count)
        }
        inboxd_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, me)
    }

    // MARK: Options

    @discardableResult func set(_ option: CURLoption, _ value: Int) -> CURLcode {
        inboxd_curl_setopt_long(handle, option, value)
    }

    @discardableResult func set(_ option: CURLoption, _ value: Bool) -> CURLcode {
        inboxd_curl_setopt_long(handle, option, value ? 1 : 0)
    }

    @discardableResult func set(_ option: CURLoption, offset value: Int64) -> CURLcode {
        inboxd_curl_setopt_off(handle, option, curl_off_t(value))
    }

    /// curl copies string options, so the Swift string need not outlive the call.
    @discardableResult func set(_ option: CURLoption, _ value: String) -> CURLcode {
        inboxd_curl_setopt_string(handle, option, value)
    }

    /// Sets an option a safety rule rests on (allowed protocols, no proxy): when libcurl refuses it, the transfer
    /// must not run without the rule, so the refusal is an error (fail closed).
    func require(_ option: CURLoption, _ value: String, name: String) throws(PipelineError) {
        try check(set(option, value), "\(name)=\"\(value)\"")
    }

    private func check(_ code: CURLcode, _ what: String) throws(PipelineError) {
        guard code != CURLE_OK else { return }
        throw .invalidArgument(
            "libcurl refused \(what): \(String(cString: curl_easy_strerror(code))) (curl error \(code.rawValue)); "
                + "the transfer was not started without it (is libcurl older than 7.85?)")
    }

    /// Request headers (`Name: value`); kept alive until the next `reset()`.
    func setHeaders(_ headers: [(String, String)]) {
        if let headerList { curl_slist_free_all(headerList) }
        headerList = nil
        for (name, value) in headers {
            headerList = curl_slist_append(headerList, "\(name): \(value)")
        }
        inboxd_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList)
    }

    /// Sends `body` as the request body (curl's upload mode; the method comes from CURLOPT_CUSTOMREQUEST).
    func setUploadBody(_ body: Body) {
        self.body = body
        bodyPosition = 0
        let me = Unmanaged.passUnretained(self).toOpaque()
        set(CURLOPT_UPLOAD, true)
        set(CURLOPT_INFILESIZE_LARGE, offset: body.length)
        inboxd_curl_setopt_read_callback(handle, CURLOPT_READFUNCTION) { buffer, size, count, user in
            Unmanaged<CurlEasy>.fromOpaque(user!).takeUnretainedValue().read(buffer, size * count)
        }
        inboxd_curl_setopt_pointer(handle, CURLOPT_READDATA, me)
        inboxd_curl_setopt_seek_callback(handle, CURLOPT_SEEKFUNCTION) { user, offset, origin in
            Unmanaged<CurlEasy>.fromOpaque(user!).takeUnretainedValue().seek(Int64(offset), origin)
        }
        inboxd_curl_setopt_pointer(handle, CURLOPT_SEEKDATA, me)
    }

    func setSink(_ sink: Sink) { self.sink = sink }

    func setBodyGate(_ gate: @escaping BodyGate) { self.gate = gate }

    func setProgressHook(_ hook: @escaping ProgressHook) {
        progressHook = hook
        set(CURLOPT_NOPROGRESS, false)
        inboxd_curl_setopt_xferinfo_callback(handle, CURLOPT_XFERINFOFUNCTION) { user, dltotal, dlnow, _, ulnow in
            let progress = Progress(downloaded: Int64(dlnow), downloadTotal: Int64(dltotal), uploaded: Int64(ulnow))
            return Unmanaged<CurlEasy>.fromOpaque(user!).takeUnretainedValue().progress(progress)
        }
        inboxd_curl_setopt_pointer(handle, CURLOPT_XFERINFODATA, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Checks every address before curl connects to it (each redirect hop, each DNS answer). Throws when libcurl
    /// does not take the callback: without it nothing would check the addresses.
    func setConnectFilter(_ filter: @escaping ConnectFilter) throws(PipelineError) {
        connectFilter = filter
        try check(inboxd_curl_setopt_pointer(handle, CURLOPT_OPENSOCKETDATA, Unmanaged.passUnretained(self).toOpaque()),
                  "CURLOPT_OPENSOCKETDATA")
        try check(inboxd_curl_setopt_opensocket_callback(handle, CURLOPT_OPENSOCKETFUNCTION) { user, purpose, address in
            Unmanaged<CurlEasy>.fromOpaque(user!).takeUnretainedValue().openSocket(purpose, address)
        }, "CURLOPT_OPENSOCKETFUNCTION")
    }

    // MARK: Transfer

    func perform() -> CURLcode { curl_easy_perform(handle) }

    /// curl's detailed message for `code` (the error buffer when curl filled it).
    func errorText(_ code: CURLcode) -> String {
        let detail = String(cString: errorBuffer)
        return detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
    }

    var responseCode: Int {
        var code = 0
        inboxd_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code)
        return code
    }

    var effectiveURL: String? {
        var p: UnsafeMutablePointer<CChar>?
        guard inboxd_curl_getinfo_string(handle, CURLINFO_EFFECTIVE_URL, &p) == CURLE_OK, let p else { return nil }
        return String(cString: p)
    }

    /// The response's Content-Length, or nil when it had none.
    var contentLength: Int64? {
        var length: curl_off_t = -1
        inboxd_curl_getinfo_off(handle, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length)
        return length >= 0 ? Int64(length) : nil
    }

    var contentType: String? {
        var p: UnsafeMutablePointer<CChar>?
        guard inboxd_curl_getinfo_string(handle, CURLINFO_CONTENT_TYPE, &p) == CURLE_OK, let p else { return nil }
        return String(cString: p)
    }

    // MARK: Callbacks

    private func write(_ data: UnsafeMutablePointer<CChar>?, _ count: Int) -> Int {
        if !gateAsked {
            gateAsked = true
            if let gate, !gate(responseCode, responseHeaders) {
                bodyRejected = true
                return 0
            }
        }
        if let maxBodyBytes, receivedBytes + Int64(count) > maxBodyBytes {
            bodyLimitExceeded = true
            return 0
        }
        guard count > 0, let data else { return count }
        switch sink {
        case .memory(let limit):
            let keep = min(count, limit - receivedBody.count)
            if keep > 0 {
                data.withMemoryRebound(to: UInt8.self, capacity: keep) {
                    receivedBody.append(contentsOf: UnsafeBufferPointer(start: $0, count: keep))
                }
            }
        case .file(let fd):
            var done = 0
            while done < count {
                let n = Glibc.write(fd, data + done, count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    writeErrno = errno
                    writeFailure = String(cString: strerror(errno))
                    return 0
                }
                done += n
            }
        }
        receivedBytes += Int64(count)
        return count
    }

    private func header(_ data: UnsafeMutablePointer<CChar>?, _ count: Int) -> Int {
        guard let data else { return count }
        let line = data.withMemoryRebound(to: UInt8.self, capacity: count) {
            String(decoding: UnsafeBufferPointer(start: $0, count: count), as: UTF8.self)
        }
        if line.hasPrefix("HTTP/") {
            responseHeaders = [:]
        } else if let colon = line.firstIndex(of: ":") {
            let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
            responseHeaders[name] = value
        }
        return count
    }

    private func read(_ buffer: UnsafeMutablePointer<CChar>?, _ capacity: Int) -> Int {
        guard let buffer else { return 0 }
        switch body {
        case .none:
            return 0
        case .bytes(let bytes):
            let n = min(capacity, bytes.count - Int(bodyPosition))
            guard n > 0 else { return 0 }
            bytes.withUnsafeBytes { src in
                UnsafeMutableRawPointer(buffer).copyMemory(from: src.baseAddress! + Int(bodyPosition), byteCount: n)
            }
            bodyPosition += Int64(n)
            return n
        case .file(let fd, let offset, let length):
            let want = Int(min(Int64(capacity), length - bodyPosition))
            guard want > 0 else { return 0 }
            while true {
                let n = pread(fd, buffer, want, off_t(offset + bodyPosition))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    writeFailure = n < 0 ? String(cString: strerror(errno)) : "file shrank while uploading"
                    return Int(CURL_READFUNC_ABORT)
                }
                bodyPosition += Int64(n)
                return n
            }
        }
    }

    private func seek(_ offset: Int64, _ origin: Int32) -> Int32 {
        guard origin == SEEK_SET, offset >= 0, offset <= body.length else { return CURL_SEEKFUNC_CANTSEEK }
        bodyPosition = offset
        return CURL_SEEKFUNC_OK
    }

    private func progress(_ progress: Progress) -> Int32 {
        guard let progressHook, progressHook(progress) else { return 0 }
        aborted = true
        return 1
    }

    private func openSocket(_ purpose: curlsocktype, _ address: UnsafeMutablePointer<curl_sockaddr>?) -> curl_socket_t {
        guard let address else { return CURL_SOCKET_BAD }
        let family = address.pointee.family
        if let connectFilter {
            guard let ip = Self.ipAddress(inboxd_curl_sockaddr(address), family: family) else {
                refusal = "address family \(family) is not supported"
                return CURL_SOCKET_BAD
            }
            if let reason = connectFilter(ip) {
                refusal = reason
                return CURL_SOCKET_BAD
            }
        }
        return socket(family, address.pointee.socktype | Int32(SOCK_CLOEXEC.rawValue), address.pointee.protocol)
    }

    private static func ipAddress(_ sa: UnsafePointer<sockaddr>?, family: Int32) -> IPAddress? {
        guard let sa else { return nil }
        switch family {
        case AF_INET:
            let sin = UnsafeRawPointer(sa).loadUnaligned(as: sockaddr_in.self)
            return IPAddress(bytes: withUnsafeBytes(of: sin.sin_addr) { Array($0) })
        case AF_INET6:
            let sin6 = UnsafeRawPointer(sa).loadUnaligned(as: sockaddr_in6.self)
            return IPAddress(bytes: withUnsafeBytes(of: sin6.sin6_addr) { Array($0) })
        default:
            return nil
        }
    }
}
