/// A problem with local key material (unreadable, mismatched, expired, wrong type).
public struct PEMMaterialError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
