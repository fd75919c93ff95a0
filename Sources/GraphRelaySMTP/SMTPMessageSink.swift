import NIOCore

/// Receives one message's content while the client sends it.
///
/// The listener calls ``append(_:)`` in order, one call at a time, then exactly one of
/// ``finish()`` (the message is complete and valid) or ``discard()`` (refused, aborted, or the
/// client went away). The first bytes appended are the listener's `Received:` header.
public protocol SMTPMessageSink: Sendable {
    /// Stores the next bytes. Throwing makes the listener read the rest of the message, store
    /// nothing more, and answer `451 4.3.0`.
    func append(_ bytes: ByteBuffer) async throws
    /// The message is complete: returns it for delivery. Throwing makes the listener answer
    /// `451 4.3.0`.
    func finish() async throws -> any SMTPStoredMessage
    /// Throws away everything stored.
    func discard() async
}
