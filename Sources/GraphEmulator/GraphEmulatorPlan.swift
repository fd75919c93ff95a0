import NIOCore
import NIOHTTP1

/// What the engine decided when a request head arrived: where it goes, which fault (if any)
/// applies, how much body to keep.
struct GraphEmulatorPlan: Sendable {
    enum Route: Sendable, Equatable {
        case token(tenant: String)
        /// The instance metadata service's `/metadata/identity/oauth2/token` (its own listener).
        case managedIdentityToken
        case sendMail(mailbox: String)
        /// `/v1.0/users/{mailbox}/messages`
        case messages(mailbox: String)
        /// `/v1.0/users/{mailbox}/messages/{id}` and below (`attachments`,
        /// `attachments/createUploadSession`, `send`): `rest` is what follows the id.
        case message(mailbox: String, id: String, rest: [String])
        /// `/v1.0/users/{mailbox}/mailFolders/drafts/messages`
        case draftsFolder(mailbox: String)
        /// An upload session's URL: `/upload/{session}?authtoken=…`.
        case upload(session: String)
        case me
        case unknown(segment: String)
    }

    var route: Route
    var requestID: String
    /// The operation (for faults, permissions and counters), once the method is known.
    var operation: GraphEmulatorOperation?
    /// The mailbox the request acts on (an upload session's, for its URL).
    var mailbox: String?
    /// The fault injected into this request, if any.
    var fault: GraphEmulatorFault?
    var tokenFault: GraphEmulatorTokenFault?
    /// Body bytes kept for processing; more are counted and dropped.
    var retainLimit: Int

    /// Close the connection as soon as body bytes arrive.
    var dropsDuringBody: Bool { fault == .dropDuringRequest }
}
