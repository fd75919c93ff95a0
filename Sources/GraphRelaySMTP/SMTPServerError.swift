/// Why ``SMTPServer/start(on:)`` failed.
public struct SMTPServerError: Error, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
