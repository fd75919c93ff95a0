import GraphRelayTLS

/// Supplies the TLS context for each new connection, so a reloaded certificate applies to new
/// connections while open ones keep theirs. Returning nil means TLS is unavailable right now:
/// STARTTLS is not advertised (and answered `454 4.7.0`); an implicit-TLS connection is closed.
///
/// A fixed ``TLSContext`` is a source; the relay can adapt its reloadable context with
/// ``SMTPTLSContextProvider`` or by conforming it directly.
public protocol SMTPTLSContextSource: Sendable {
    func tlsContextForNewConnection() -> TLSContext?
}

extension TLSContext: SMTPTLSContextSource {
    public func tlsContextForNewConnection() -> TLSContext? { self }
}

/// A context source backed by a closure, e.g. `SMTPTLSContextProvider { reloadable.current }`.
public struct SMTPTLSContextProvider: SMTPTLSContextSource {
    private let provide: @Sendable () -> TLSContext?

    public init(_ provide: @escaping @Sendable () -> TLSContext?) {
        self.provide = provide
    }

    public func tlsContextForNewConnection() -> TLSContext? { provide() }
}
