import Hummingbird
import Store

/// Who a request comes from, as `BearerAuthMiddleware` found out before any route ran.
public enum Authentication: Sendable {
    /// No `Authorization` header.
    case anonymous
    case user(UserRow)
    /// A header was sent but does not name an active user; the answer to give a route that needs one.
    case refused(APIError)
}

/// A request context that carries the caller's `Authentication`, as Hummingbird's own `AuthRequestContext` carries
/// its identity: middleware fills it, handlers only read it.
public protocol AuthenticatedRequestContext: RequestContext {
    var authentication: Authentication { get set }
}

extension AuthenticatedRequestContext {
    /// The caller, or the 401 that explains why there is none.
    public func requireUser() throws(APIError) -> UserRow {
        switch authentication {
        case .user(let user): return user
        case .refused(let error): throw error
        case .anonymous:
            throw APIError(.unauthorized, "unauthorized", "missing Authorization: Bearer <token> header", headers: APIError.challenge)
        }
    }

    /// A caller whose upload flag is set (401 / 403 otherwise), as the seed's `uploadFlag` check.
    public func requireUploader() throws(APIError) -> UserRow {
        let user = try requireUser()
        guard user.canUpload else { throw APIError(.forbidden, "forbidden", "user '\(user.username)' may not upload (no upload flag)") }
        return user
    }

    public func requireAdmin() throws(APIError) -> UserRow {
        let user = try requireUser()
        guard user.isAdmin else { throw APIError(.forbidden, "forbidden", "user '\(user.username)' is not an admin") }
        return user
    }
}
