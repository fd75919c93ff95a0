import GraphRelayTLS
import GraphRelayTestSupport
import NIOCore
import NIOEmbedded

/// Records what reaches the application side of a ``TLSHandler``.
final class Recorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    var received = ByteBuffer()
    var events: [TLSUserEvent] = []
    var errors: [Error] = []
    var inactive = false

    var handshakeInfo: TLSConnectionInfo? {
        for case .handshakeCompleted(let info) in events { return info }
        return nil
    }

    var tlsErrors: [TLSError] { errors.compactMap { $0 as? TLSError } }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        received.writeBuffer(&bytes)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent { events.append(event) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        errors.append(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        inactive = true
    }
}

/// A TLS client and server on two `EmbeddedChannel`s, with the bytes between them moved by hand.
final class TLSPair {
    let server: EmbeddedChannel
    let client: EmbeddedChannel
    let serverRecorder = Recorder()
    let clientRecorder = Recorder()

    init(
        server serverConfiguration: TLSConfiguration = TLSPair.defaultServer(),
        client clientConfiguration: TLSConfiguration = TLSPair.defaultClient(),
        serverHostname: String? = "localhost"
    ) throws {
        let serverContext = try TLSContext(configuration: serverConfiguration, role: .server)
        let clientContext = try TLSContext(configuration: clientConfiguration, role: .client)
        server = EmbeddedChannel()
        client = EmbeddedChannel()
        try server.pipeline.syncOperations.addHandlers([TLSHandler(context: serverContext), serverRecorder])
        try client.pipeline.syncOperations.addHandlers([
            TLSHandler(context: clientContext, serverHostname: serverHostname), clientRecorder,
        ])
    }

    static func defaultServer() -> TLSConfiguration {
        .server(certificateChain: .file(TestPKI.shared.serverCertificate), privateKey: .file(TestPKI.shared.serverKey))
    }

    static func defaultClient() -> TLSConfiguration {
        var configuration = TLSConfiguration.client()
        configuration.useSystemTrustRoots = false
        configuration.additionalTrustRoots = [.file(TestPKI.shared.caCertificate)]
        return configuration
    }

    /// Connects both channels (client first, so it sends its ClientHello) and runs the handshake.
    func connect() throws {
        try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 50000)).wait()
        try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 465)).wait()
        try interact()
    }

    /// Moves bytes both ways until neither side has anything left to send.
    func interact() throws {
        var moved = true
        while moved {
            moved = false
            while let bytes = try client.readOutbound(as: ByteBuffer.self) {
                if server.isActive { try server.writeInbound(bytes) }
                moved = true
            }
            while let bytes = try server.readOutbound(as: ByteBuffer.self) {
                if client.isActive { try client.writeInbound(bytes) }
                moved = true
            }
        }
    }

    func write(_ text: String, from channel: EmbeddedChannel) {
        channel.writeAndFlush(ByteBuffer(string: text), promise: nil)
    }
}
