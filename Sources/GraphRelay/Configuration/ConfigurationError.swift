/// One problem in the configuration: the key path (`routes[2].application`), what is wrong, and
/// the line in the YAML file when known.
public struct ConfigurationIssue: Sendable, Hashable, CustomStringConvertible {
    /// The key path, e.g. `smtp.listeners[1].tls`; empty for the document as a whole.
    public let path: String
    /// What is wrong, e.g. `unknown application 'contsoo' (known: contoso)`.
    public let message: String
    /// 1-based line in the configuration file, when known.
    public let line: Int?

    public init(path: String, message: String, line: Int? = nil) {
        self.path = path
        self.message = message
        self.line = line
    }

    /// `path: message` (the line is not included).
    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// The configuration could not be loaded; carries every problem found, not just the first.
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file loaded, when loading from a file.
    public let file: String?
    /// All problems, in document order.
    public let issues: [ConfigurationIssue]

    public init(file: String?, issues: [ConfigurationIssue]) {
        self.file = file
        self.issues = issues
    }

    /// A multi-line report: a heading, then one line per problem
    /// (`  routes[2].application: unknown application 'contsoo' (known: contoso)  [line 14]`).
    public var description: String {
        let count = issues.count == 1 ? "1 problem" : "\(issues.count) problems"
        var lines = ["invalid configuration\(file.map { " \($0)" } ?? ""): \(count)"]
        for issue in issues {
            lines.append("  \(issue)\(issue.line.map { "  [line \($0)]" } ?? "")")
        }
        return lines.joined(separator: "\n")
    }
}
