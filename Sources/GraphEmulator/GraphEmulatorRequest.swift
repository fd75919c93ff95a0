import NIOCore
import NIOHTTP1

/// A complete request as the handler collected it.
struct GraphEmulatorRequest: Sendable {
    var head: HTTPRequestHead
    var secure: Bool
    /// The kept body (at most the plan's `retainLimit` bytes).
    var body: ByteBuffer
    /// All body bytes received.
    var bodyBytes: Int
}
