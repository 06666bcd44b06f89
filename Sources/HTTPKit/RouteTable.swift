import Hummingbird
import Synchronization

/// The (method, path template) pairs a router serves, read from the router itself once every route is registered,
/// so 405 answers (`UnmatchedRouteMiddleware`) can never disagree with the routes.
public final class RouteTable: Sendable {
    public struct Route: Hashable, Sendable, CustomStringConvertible {
        public var method: String
        public var path: String
        public var description: String { "\(method) \(path)" }

        public init(method: String, path: String) {
            self.method = method
            self.path = path
        }
    }

    private let entries = Mutex<[Route]>([])

    public init() {}

    /// Takes the router's routes; call it after the last route is added.
    public func record<Context>(_ router: Router<Context>) {
        let routes = router.routes.map { Route(method: $0.method.rawValue, path: $0.path.description) }
        entries.withLock { $0 = routes }
    }

    public var routes: [Route] { entries.withLock { $0 } }
}
