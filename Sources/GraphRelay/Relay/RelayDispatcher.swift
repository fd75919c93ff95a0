import GraphRelaySMTP
import Logging

/// What happens to a message the relay has accepted for a route: deliver it now and answer with
/// Graph's verdict (``SynchronousDispatcher``), or make it durable and answer at once (the spool).
protocol RelayDispatcher: Sendable {
    func dispatch(_ message: SMTPIncomingMessage, route: RouteMatch, logger: Logger) async -> SMTPReply
}
