import HTTPKit
import Hummingbird

extension APIError {
    /// A refusal sent while the request body is (partly) unread: `Connection: close`, so the server does not read
    /// and discard the rest of a large upload (see `CloseAfterResponseHandler`).
    static func refusal(_ status: HTTPResponse.Status, _ error: String, _ detail: String) -> APIError {
        APIError(status, error, detail, headers: [.connection: "close"])
    }

    /// The same failure, closing the connection (the rest of the body is unread).
    var closing: APIError {
        var copy = self
        copy.headers[.connection] = "close"
        return copy
    }
}

extension HTTPResponse.Status {
    /// 507: the inbox filesystem has too little free space for the upload.
    static var insufficientStorage: Self { .init(code: 507, reasonPhrase: "Insufficient Storage") }
}

/// Runs a pre-body check; a refusal then closes the connection when a body is still unread (`Request.hasBody`).
func refusingUnreadBody<T>(_ request: Request, _ check: () async throws -> T) async throws -> T {
    do { return try await check() } catch let e as APIError where request.hasBody { throw e.closing }
}
