/// A ``GraphClient`` cannot be built from its configuration.
public struct GraphClientSetupError: Error, Sendable, Hashable, CustomStringConvertible {
    public var application: String
    public var detail: String

    public init(application: String, detail: String) {
        self.application = application
        self.detail = detail
    }

    public var description: String { "application '\(application)': \(detail)" }
}
