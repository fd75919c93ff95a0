import NIOCore
import NIOHTTP1
import NIOPosix

/// The admin HTTP listener (`admin.address`) on the relay's own event loops, with SwiftNIO's
/// HTTP/1 codec: `/healthz` and `/readyz` for probes (docs/operations.md).
final class AdminServer: Sendable {
    private let channel: any Channel
    /// The address it is bound to (the real port when port 0 was asked for).
    let address: SocketAddress

    private init(channel: any Channel) {
        self.channel = channel
        self.address = channel.localAddress!
    }

    /// Binds `host:port` and serves until ``close()``.
    static func start(host: String, port: Int, router: AdminRouter, on group: any EventLoopGroup) async throws -> AdminServer {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.configureHTTPServerPipeline(withErrorHandling: true)
                    // A probe asks and goes; a connection silent for 30 s is closed.
                    try pipeline.addHandler(IdleStateHandler(readTimeout: .seconds(30)))
                    try pipeline.addHandler(AdminHTTPHandler(router: router))
                }
            }
            .bind(host: host, port: port)
            .get()
        return AdminServer(channel: channel)
    }

    func close() async {
        try? await channel.close()
    }
}
