/// One line of `inboxd doctor`: what was checked, and when it is wrong, what is wrong and how to fix it.
struct Finding: Sendable, Equatable {
    let what: String
    let problem: String?
    let fix: String?

    static func ok(_ what: String) -> Finding { Finding(what: what, problem: nil, fix: nil) }
    static func fail(_ what: String, _ problem: String, fix: String) -> Finding { Finding(what: what, problem: problem, fix: fix) }

    var isOK: Bool { problem == nil }

    /// `ok   <what>` or `FAIL <what>: <problem>; <how to fix>`.
    var line: String {
        guard let problem else { return "ok   \(what)" }
        return "FAIL \(what): \(problem); \(fix ?? "")"
    }
}
