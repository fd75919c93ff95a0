import NIOCore
import NIOHTTP1

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
