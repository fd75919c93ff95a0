import GraphRelayTLS
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// Opens ``HTTP1Connection``s: TCP (to the target or to the CONNECT proxy), the proxy tunnel, the
/// TLS handshake (SNI, certificate verification, ALPN `http/1.1`), then the HTTP/1.1 codec. All of
/// it must finish within the connect timeout; each step fails with its own error kind.
struct HTTPConnectionFactory: Sendable {
    let configuration: HTTPClientConfiguration
    let tlsContext: TLSContext
    let group: any EventLoopGroup

    func connect(to endpoint: HTTPEndpoint, id: Int, logger: Logger) async throws(HTTPClientError) -> HTTP1Connection {
        let proxy = configuration.proxy.flatMap { $0.shouldProxy(endpoint) ? $0 : nil }
        let connectHost = proxy?.host ?? endpoint.host
        let connectPort = proxy?.port ?? endpoint.port
        let timeout = configuration.connectTimeout
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)

        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: connectHost, port: connectPort).get()
        } catch let error as ChannelError {
            if case .connectTimeout = error {
                throw HTTPClientError(.connectTimeout, detail: "TCP connect to \(connectHost):\(connectPort) took longer than \(HTTP1ConnectionStateMachine.describe(timeout))")
            }
            throw HTTPClientError(.connectFailed, detail: "\(connectHost):\(connectPort): \(error)")
        } catch {
            throw HTTPClientError(.connectFailed, detail: "\(connectHost):\(connectPort): \(error)")
        }

        // The rest of the set-up (proxy tunnel, TLS handshake) shares the connect timeout.
        let timedOut = Locked(false)
        let timer = channel.eventLoop.scheduleTask(in: timeout) {
            timedOut.withLock { $0 = true }
            channel.close(promise: nil)
        }
        do {
            let connection = try await setUp(channel: channel, endpoint: endpoint, proxy: proxy, id: id, logger: logger)
            timer.cancel()
            return connection
        } catch {
            timer.cancel()
            channel.close(promise: nil)
            if timedOut.withLock({ $0 }) {
                let step = proxy == nil ? "TLS handshake" : "proxy tunnel and TLS handshake"
                throw HTTPClientError(.connectTimeout, detail: "\(step) with \(endpoint.hostAndPort) not complete within \(HTTP1ConnectionStateMachine.describe(timeout))")
            }
            throw HTTP1ClientHandler.classify(error)
        }
    }

    private func setUp(channel: any Channel, endpoint: HTTPEndpoint, proxy: HTTPProxyConfiguration?, id: Int, logger: Logger) async throws -> HTTP1Connection {
        let loop = channel.eventLoop
        let tlsContext = self.tlsContext
        let configuration = self.configuration
        if let proxy {
            let tunnel = try await loop.submit {
                let handler = HTTPConnectProxyHandler(target: endpoint, proxy: proxy, eventLoop: loop)
                try channel.pipeline.syncOperations.addHandler(handler, name: Self.proxyHandlerName)
                return handler.tunnelEstablished
            }.get()
            try await tunnel.get()
            try await channel.pipeline.removeHandler(name: Self.proxyHandlerName).get()
            logger.debug("proxy tunnel established", metadata: ["http.proxy": "\(proxy.endpointDescription)", "http.endpoint": "\(endpoint)"])
        }
        if endpoint.scheme == .https {
            let handshake = try await loop.submit {
                let tls = try TLSHandler(context: tlsContext, serverHostname: endpoint.host, logger: logger)
                let waiter = TLSHandshakeWaiter(eventLoop: loop)
                try channel.pipeline.syncOperations.addHandler(tls, position: .first)
                try channel.pipeline.syncOperations.addHandler(waiter, name: Self.waiterName, position: .after(tls))
                return waiter.handshakeCompleted
            }.get()
            let info = try await handshake.get()
            try await channel.pipeline.removeHandler(name: Self.waiterName).get()
            if let alpn = info.applicationProtocol, alpn != "http/1.1" {
                throw HTTPClientError(.tlsFailed, detail: "server chose ALPN '\(alpn)', expected http/1.1")
            }
            logger.debug("TLS connection established", metadata: [
                "http.endpoint": "\(endpoint)", "tls.version": "\(info.version)", "tls.cipher": "\(info.cipher)",
            ])
        }
        let handler = try await loop.submit {
            let handler = HTTP1ClientHandler(maxResponseBodySize: configuration.maxResponseBodySize, logger: logger)
            let sync = channel.pipeline.syncOperations
            try sync.addHTTPClientHandlers(leftOverBytesStrategy: .fireError)
            try sync.addHandler(handler)
            return NIOLoopBound(handler, eventLoop: loop)
        }.get()
        return HTTP1Connection(id: id, endpoint: endpoint, channel: channel, handler: handler)
    }

    private static let proxyHandlerName = "graph-relay.connect-proxy"
    private static let waiterName = "graph-relay.tls-waiter"
}
