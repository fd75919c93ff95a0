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
