import NIOCore
import NIOHTTP1

/// What the engine decided when a request head arrived: where it goes, which fault (if any)
/// applies, how much body to keep.
struct GraphEmulatorPlan: Sendable {
    enum Route: Sendable, Equatable {
        case token(tenant: String)
        case sendMail(mailbox: String)
        case me
        case unknown(segment: String)
    }

    var route: Route
    var requestID: String
    var sendMailFault: GraphEmulatorFault?
    var tokenFault: GraphEmulatorTokenFault?
    /// Body bytes kept for processing; more are counted and dropped.
    var retainLimit: Int

    /// Close the connection as soon as body bytes arrive.
    var dropsDuringBody: Bool { sendMailFault == .dropDuringRequest }
}

/// A complete request as the handler collected it.
struct GraphEmulatorRequest: Sendable {
    var head: HTTPRequestHead
    var secure: Bool
    /// The kept body (at most the plan's `retainLimit` bytes).
    var body: ByteBuffer
    /// All body bytes received.
    var bodyBytes: Int
}

/// The engine's answer.
struct GraphEmulatorReply: Sendable {
    enum Disposition: Sendable, Equatable {
        case respond
        /// Close the connection without answering.
        case drop
    }

    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var body: ByteBuffer
    var delay: TimeAmount?
    var disposition: Disposition

    init(status: HTTPResponseStatus, headers: HTTPHeaders = [:], body: ByteBuffer = ByteBuffer(),
         delay: TimeAmount? = nil, disposition: Disposition = .respond) {
        self.status = status
        self.headers = headers
        self.body = body
        self.delay = delay
        self.disposition = disposition
    }

    static func drop(after delay: TimeAmount? = nil) -> GraphEmulatorReply {
        GraphEmulatorReply(status: .internalServerError, delay: delay, disposition: .drop)
    }
}
