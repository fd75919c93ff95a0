/// Creates one ``SMTPMessageSink`` per message. The listener asks for a sink when DATA (or the
/// first BDAT) is accepted and streams the content into it as it arrives, so a message is never
/// held whole in the listener's memory.
///
/// The default is ``SMTPSpillingMessageStore`` (memory for small messages, an unnamed temporary
/// file for larger ones). A durable spool can replace it behind the same protocol.
public protocol SMTPMessageStore: Sendable {
    /// A new, empty sink for the message of this transaction. Throwing makes the listener answer
    /// `451 4.3.0`.
    func makeSink(envelope: SMTPEnvelope, session: SMTPSessionInfo) async throws -> any SMTPMessageSink
}
