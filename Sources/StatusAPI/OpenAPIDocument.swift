import Foundation
import Hummingbird
import Yams

/// `GET /openapi.json`: `openapi.yaml`, the hand-written description of every route, served as JSON. The YAML is
/// compiled into the binary (SwiftPM's `embedInCode`), so the daemon stays one file to install, and converted once
/// at first use. Tests lint it with openapi-spec-validator, check its paths against the router's routes, and run
/// schemathesis against a live daemon with it.
public enum OpenAPIDocument {
    public static func register<Context: RequestContext>(on router: Router<Context>) {
        router.get("/openapi.json") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: json)))
        }
    }

    /// The spec's YAML text, as committed.
    public static var yaml: String { String(decoding: PackageResources.openapi_yaml, as: UTF8.self) }

    /// The spec as JSON (keys sorted, so the answer is byte-identical on every request).
    public static let json: [UInt8] = {
        do {
            let document = try Yams.load(yaml: yaml) ?? [:]
            return Array(try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes]))
        } catch {
            // The file is compiled in and the tests parse it, so this is a build that skipped them.
            preconditionFailure("openapi.yaml does not parse: \(error)")
        }
    }()
}
