import Foundation
import NIOCore
import NIOPosix

/// A tiny HTTP CONNECT proxy on 127.0.0.1 for Graph client tests: it answers `CONNECT host:port`
/// with 200 and then relays bytes both ways; with ``requiredAuthorization`` set it answers 407 to
/// requests without that exact `Proxy-Authorization` value. It records the tunnels it opened.
public final class GraphConnectProxy: Sendable {
    private let channel: any Channel
    private let state: ProxyState

    /// The bound port.
    public var port: Int { channel.localAddress?.port ?? 0 }

    /// `host:port` of every tunnel established, in order.
    public var tunnels: [String] { state.withLock { $0.tunnels } }

    /// CONNECT requests refused (407, 502, malformed).
    public var refusedCount: Int { state.withLock { $0.refused } }

    /// Starts a proxy on 127.0.0.1 with a free port.
    ///
    /// - Parameter requiredAuthorization: the `Proxy-Authorization` value to demand, e.g. `Basic dTpw`.
    public static func start(requiredAuthorization: String? = nil,
                             group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> GraphConnectProxy {
        let state = ProxyState()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ConnectRequestHandler(state: state, requiredAuthorization: requiredAuthorization))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return GraphConnectProxy(channel: channel, state: state)
    }

    private init(channel: any Channel, state: ProxyState) {
        self.channel = channel
        self.state = state
    }

    public func shutdown() async {
        try? await channel.close()
    }
}

final class ProxyState: @unchecked Sendable {
    struct Values {
        var tunnels: [String] = []
        var refused = 0
    }

    private let lock = NSLock()
    private var values = Values()

    func withLock<T>(_ body: (inout Values) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&values)
    }
}

/// Reads the CONNECT request head, opens the upstream connection and splices the two.
private final class ConnectRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var buffer = ByteBuffer()
    private let state: ProxyState
    private let requiredAuthorization: String?
    private var connecting = false

    init(state: ProxyState, requiredAuthorization: String?) {
        self.state = state
        self.requiredAuthorization = requiredAuthorization
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !connecting else { return }
        var bytes = unwrapInboundIn(data)
        buffer.writeBuffer(&bytes)
        let text = String(buffer: buffer)
        guard let end = text.range(of: "\r\n\r\n") else {
            if buffer.readableBytes > 16 * 1024 { refuse(context: context, status: "400 Bad Request") }
            return
        }
        let lines = text[..<end.lowerBound].components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ")
        guard parts.count == 3, parts[0] == "CONNECT", let colon = parts[1].lastIndex(of: ":"),
              let port = Int(parts[1][parts[1].index(after: colon)...]) else {
            refuse(context: context, status: "400 Bad Request")
            return
        }
        var host = String(parts[1][..<colon])
        if host.hasPrefix("[") { host = String(host.dropFirst().dropLast()) }
        if let required = requiredAuthorization {
            let given = lines.dropFirst().first { $0.lowercased().hasPrefix("proxy-authorization:") }
                .map { String($0.dropFirst("proxy-authorization:".count)).trimmingCharacters(in: .whitespaces) }
            guard given == required else {
                refuse(context: context, status: "407 Proxy Authentication Required", extra: "Proxy-Authenticate: Basic realm=\"test\"\r\n")
                return
            }
        }
        connecting = true
        let front = context.channel
        let target = String(parts[1])
        let state = self.state
        ClientBootstrap(group: context.eventLoop)
            .channelInitializer { back in
                back.eventLoop.makeCompletedFuture {
                    try back.pipeline.syncOperations.addHandler(ProxyGlueHandler(partner: front))
                }
            }
            .connect(host: host, port: port)
            .assumeIsolated()
            .whenComplete { [self] result in
                switch result {
                case .success(let back):
                    state.withLock { $0.tunnels.append(target) }
                    context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 200 Connection established\r\n\r\n")), promise: nil)
                    do {
                        try context.pipeline.syncOperations.addHandler(ProxyGlueHandler(partner: back))
                        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
                    } catch {
                        context.close(promise: nil)
                    }
                case .failure:
                    refuse(context: context, status: "502 Bad Gateway")
                }
            }
    }

    private func refuse(context: ChannelHandlerContext, status: String, extra: String = "") {
        state.withLock { $0.refused += 1 }
        let response = "HTTP/1.1 \(status)\r\n\(extra)Content-Length: 0\r\nConnection: close\r\n\r\n"
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: response))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}

/// Forwards everything it reads to the partner channel and closes the partner when it closes.
private final class ProxyGlueHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let partner: any Channel

    init(partner: any Channel) {
        self.partner = partner
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partner.writeAndFlush(unwrapInboundIn(data), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
