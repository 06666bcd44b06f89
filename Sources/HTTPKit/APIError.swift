import Foundation
import Hummingbird
import Store

/// Every error answer is JSON `{"error": "...", "detail": "..."}` with the right status code.
public struct APIError: HTTPResponseError {
    public let status: HTTPResponse.Status
    public let error: String
    public let detail: String
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ error: String, _ detail: String, headers: HTTPFields = [:]) {
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = try JSONEncoder.api.encode(["error": error, "detail": detail])
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    public static func notFound(_ id: String) -> APIError {
        APIError(.notFound, "not_found", "no video with id \(id)")
    }

    public static func badRequest(_ detail: String) -> APIError { APIError(.badRequest, "bad_request", detail) }

    /// Sent with every 401, as RFC 6750 asks.
    public static let challenge: HTTPFields = [.wwwAuthenticate: "Bearer"]

    /// The path's video id as a lookup key (`VideoID.lookupKey`), else 400.
    public static func validateID(_ id: String) throws -> String {
        guard let key = VideoID.lookupKey(id) else {
            throw APIError(.badRequest, "invalid_video_id", "video id must be a UUID, got '\(id.prefix(80))'")
        }
        return key
    }
}
