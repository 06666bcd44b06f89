import Foundation
import Hummingbird

/// An error answer in the contract's shape, `{"error": "...", "detail": "..."}`. `error` is a short stable code
/// clients can switch on; `detail` says what to fix. `closeConnection` is set when the request body was not (fully)
/// read, so the server does not drain a large upload it has already refused.
public struct HTTPFailure: HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    public let error: String
    public let detail: String
    public var closeConnection: Bool

    public init(_ status: HTTPResponse.Status, _ error: String, _ detail: String, closeConnection: Bool = false) {
        self.status = status
        self.error = error
        self.detail = detail
        self.closeConnection = closeConnection
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if closeConnection { headers[.connection] = "close" }
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        let body = try JSONSerialization.data(withJSONObject: ["error": error, "detail": detail], options: [.sortedKeys])
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    public static func badRequest(_ detail: String) -> HTTPFailure { .init(.badRequest, "bad_request", detail) }
    public static func notFound(_ detail: String) -> HTTPFailure { .init(.notFound, "not_found", detail) }
}

extension HTTPResponse.Status {
    /// 507: the inbox filesystem has too little free space for the upload.
    public static var insufficientStorage: Self { .init(code: 507, reasonPhrase: "Insufficient Storage") }
}
