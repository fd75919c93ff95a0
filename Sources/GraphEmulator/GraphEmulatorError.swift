/// The emulator cannot start with its configuration.
public struct GraphEmulatorError: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
