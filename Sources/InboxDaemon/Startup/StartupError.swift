import Foundation
import NIOCore

/// Why the daemon cannot start, in one sentence that names the path or address to fix. `inboxd run` prints it
/// and exits non-zero, so a unit with `Restart=on-failure` shows the cause in `systemctl status`.
enum StartupError: Error, CustomStringConvertible {
    case missingParent(setting: String, path: String, parent: String)
    case notADirectory(setting: String, path: String)
    case notWritable(setting: String, path: String, reason: String)
    case cannotCreate(setting: String, path: String, reason: String)
    case lockFile(path: String, reason: String)
    case listen(address: String, reason: String)
    case inotifyLimit(String)
    case store(url: String, reason: String)

    var description: String {
        switch self {
        case .missingParent(let setting, let path, let parent):
            "\(setting) \(path): its parent directory \(parent) does not exist (a typo in `\(setting)`?)"
        case .notADirectory(let setting, let path): "\(setting) \(path) is not a directory"
        case .notWritable(let setting, let path, let reason):
            "\(setting) directory \(path) is not writable by this user (uid \(getuid())): \(reason)"
        case .cannotCreate(let setting, let path, let reason): "cannot create \(setting) directory \(path): \(reason)"
        case .lockFile(let path, let reason):
            "cannot open the job lock file \(path) read-write as uid \(getuid()): \(reason) (files left by another user? "
                + "give them to the daemon's user, or remove the `.locks` directory while no daemon runs)"
        case .listen(let address, let reason): "cannot listen on \(address): \(reason)"
        case .inotifyLimit(let message): message
        case .store(let url, let reason): "cannot open the PostgreSQL store \(url) (check [store] url): \(reason)"
        }
    }

    /// Maps a failed bind to a sentence; nil for errors that are not about the listening socket.
    static func listen(_ error: Error, address: String) -> StartupError? {
        if let io = error as? IOError {
            switch io.errnoCode {
            case EADDRINUSE: return .listen(address: address, reason: "the address is already in use (another inboxd, or another server?)")
            case EACCES: return .listen(address: address, reason: "permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)")
            case EADDRNOTAVAIL: return .listen(address: address, reason: "no interface has this address")
            default: return .listen(address: address, reason: String(cString: strerror(io.errnoCode)))
            }
        }
        if error is SocketAddressError { return .listen(address: address, reason: "the host does not resolve to an address") }
        return nil
    }
}

/// A plain sentence for any error: typed errors speak for themselves; Foundation's errors lose their
/// `NSCocoaErrorDomain … UserInfo={…}` wrapping.
func plainDescription(_ error: Error) -> String {
    if type(of: error) != NSError.self {
        let text = String(describing: error)
        if !text.contains("NSCocoaErrorDomain") && !text.contains("UserInfo=") { return text }
    }
    let ns = error as NSError
    var text = ns.localizedDescription
    if let path = ns.userInfo[NSFilePathErrorKey] as? String, !text.contains(path) { text += " (\(path))" }
    if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
        text += ": " + String(cString: strerror(Int32(underlying.code)))
    }
    return text
}
