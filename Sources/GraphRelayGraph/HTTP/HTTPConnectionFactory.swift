import NIOConcurrencyHelpers
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
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)

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

        // The rest of the set-up (proxy tunnel, TLS handshake) shares the connect timeout. It runs
        // as one chain on the channel's event loop, so the timer measures the network, not how
        // quickly this task is resumed.
        let timedOut = NIOLockedValueBox(false)
        do {
            return try await setUp(channel: channel, endpoint: endpoint, proxy: proxy, id: id, timeout: timeout,
                                   timedOut: timedOut, logger: logger).get()
        } catch {
            channel.close(promise: nil)
            if timedOut.withLockedValue({ $0 }) {
                let step = proxy == nil ? "TLS handshake" : "proxy tunnel and TLS handshake"
                throw HTTPClientError(.connectTimeout, detail: "\(step) with \(endpoint.hostAndPort) not complete within \(HTTP1ConnectionStateMachine.describe(timeout))")
            }
            throw HTTP1ClientHandler.classify(error)
        }
    }

    func setUp(channel: any Channel, endpoint: HTTPEndpoint, proxy: HTTPProxyConfiguration?, id: Int,
                       timeout: TimeAmount, timedOut: NIOLockedValueBox<Bool>, logger: Logger) -> EventLoopFuture<HTTP1Connection> {
        let loop = channel.eventLoop
        let tlsContext = self.tlsContext
        let configuration = self.configuration
        return loop.flatSubmit {
            let timer = loop.scheduleTask(in: timeout) {
                timedOut.withLockedValue { $0 = true }
                channel.close(promise: nil)
            }
            let sync = channel.pipeline.syncOperations
            let tunnel: EventLoopFuture<Void>
            if let proxy {
                let handler = HTTPConnectProxyHandler(target: endpoint, proxy: proxy, eventLoop: loop)
                do {
                    try sync.addHandler(handler)
                } catch {
                    handler.abandon(error)
                    return loop.makeFailedFuture(error)
                }
                tunnel = handler.tunnelEstablished.assumeIsolated().flatMap {
                    logger.debug("proxy tunnel established", metadata: ["http.proxy": "\(proxy.endpointDescription)", "http.endpoint": "\(endpoint)"])
                    return sync.removeHandler(handler)
                }.nonisolated()
            } else {
                tunnel = loop.makeSucceededVoidFuture()
            }
            let secured = tunnel.assumeIsolated().flatMap { () -> EventLoopFuture<Void> in
                guard endpoint.scheme == .https else { return loop.makeSucceededVoidFuture() }
                let waiter = TLSHandshakeWaiter(eventLoop: loop)
                do {
                    let tls = try TLSHandler(context: tlsContext, serverHostname: endpoint.host, logger: logger)
                    try sync.addHandler(tls, position: .first)
                    try sync.addHandler(waiter, position: .after(tls))
                } catch {
                    // The channel closed under us (e.g. reset right after connecting): the
                    // waiter never joined the pipeline, so its promise is failed here.
                    let failure = HTTP1ClientHandler.classify(error)
                    waiter.abandon(failure)
                    return loop.makeFailedFuture(failure)
                }
                return waiter.handshakeCompleted.assumeIsolated().flatMap { info -> EventLoopFuture<Void> in
                    if let alpn = info.applicationProtocol, alpn != "http/1.1" {
                        return loop.makeFailedFuture(HTTPClientError(.tlsFailed, detail: "server chose ALPN '\(alpn)', expected http/1.1"))
                    }
                    logger.debug("TLS connection established", metadata: [
                        "http.endpoint": "\(endpoint)", "tls.version": "\(info.version)", "tls.cipher": "\(info.cipher)",
                    ])
                    return sync.removeHandler(waiter)
                }.nonisolated()
            }
            let connection = secured.flatMapThrowing { () -> HTTP1Connection in
                let handler = HTTP1ClientHandler(maxResponseBodySize: configuration.maxResponseBodySize, logger: logger)
                try sync.addHTTPClientHandlers(leftOverBytesStrategy: .fireError)
                try sync.addHandler(handler)
                return HTTP1Connection(id: id, endpoint: endpoint, channel: channel, handler: NIOLoopBound(handler, eventLoop: loop))
            }
            connection.whenComplete { _ in timer.cancel() }
            return connection.nonisolated()
        }
    }
}
