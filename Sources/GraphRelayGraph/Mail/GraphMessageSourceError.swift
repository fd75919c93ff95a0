/// A message source could not deliver the message (I/O error, size changed).
public struct GraphMessageSourceError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
