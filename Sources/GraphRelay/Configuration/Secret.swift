/// A secret value from the configuration (client secret, password hash, proxy password),
/// resolved at load time from a literal, `{ env: NAME }` or `{ file: PATH }`.
///
/// Its `description`, `debugDescription` and reflection are redacted, so interpolating it into a
/// log message or error, or `dump`ing a configuration, never reveals it. Read the value only
/// where it is used, with ``revealedValue``.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Where the value came from (safe to log).
    public enum Source: Sendable, Hashable, CustomStringConvertible {
        case literal
        case environment(String)
        case file(String)

        public var description: String {
            switch self {
            case .literal: "literal value"
            case .environment(let name): "environment variable \(name)"
            case .file(let path): "file \(path)"
            }
        }
    }

    public let source: Source
    private let value: String

    public init(_ value: String, source: Source = .literal) {
        self.value = value
        self.source = source
    }

    /// The secret itself. Never log it.
    public var revealedValue: String { value }

    public var description: String { "<redacted secret from \(source)>" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["source": source]) }
}
