import Foundation
import GraphRelayTLS
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// A small HTTP/1.1 client over the project's TLS layer: keep-alive connections pooled per
/// endpoint, connect and request timeouts, streamed request bodies, CONNECT proxies.
///
/// Responses are collected whole (bounded by ``HTTPClientConfiguration/maxResponseBodySize``).
/// A request that fails on a reused keep-alive connection before it was completely sent (the
/// server had closed the idle connection) is retried once on a new connection; nothing else is
/// retried here.
public final class HTTPClient: Sendable {
    public let configuration: HTTPClientConfiguration
    private let factory: HTTPConnectionFactory
    private let pool: HTTPConnectionPool

    /// - Throws: ``TLSError`` when the TLS configuration cannot be used (e.g. an unreadable CA file).
    public init(configuration: HTTPClientConfiguration = HTTPClientConfiguration(),
                eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        var tls = configuration.tls
        if tls.applicationProtocols.isEmpty { tls.applicationProtocols = ["http/1.1"] }
        tls.handshakeTimeout = configuration.connectTimeout
        self.configuration = configuration
        self.factory = HTTPConnectionFactory(configuration: configuration,
                                             tlsContext: try TLSContext(configuration: tls, role: .client),
                                             group: eventLoopGroup)
        self.pool = HTTPConnectionPool(maxIdlePerEndpoint: configuration.maxIdleConnectionsPerEndpoint,
                                       idleTimeout: configuration.idleTimeout)
    }

    /// Sends `request` and returns the complete response (any status).
    ///
    /// - Parameter timeout: from sending the request head to the end of the response; default
    ///   ``HTTPClientConfiguration/requestTimeout``. Connecting has its own timeout.
    public func execute(_ request: HTTPClientRequest, timeout: TimeAmount? = nil, logger: Logger) async throws(HTTPClientError) -> HTTPClientResponse {
        let endpoint = request.url.endpoint
        let head = makeHead(request)
        var mayRetry = true
        while true {
            let connection: HTTP1Connection
            let reused: Bool
            do {
                if let idle = try pool.takeIdle(for: endpoint) {
                    connection = idle
                    reused = true
                } else {
                    let id = try pool.reserveID()
                    connection = try await factory.connect(to: endpoint, id: id, logger: logger)
                    pool.opened(connection)
                    reused = false
                }
            } catch {
                throw error.with(endpoint: endpoint.description)
            }
            do {
                let result = try await connection.execute(request, head: head, timeout: timeout ?? configuration.requestTimeout)
                pool.release(connection, reusable: result.reusable)
                return result.response
            } catch {
                pool.release(connection, reusable: false)
                if reused, mayRetry, error.kind == .connectionClosed, !error.requestSent {
                    logger.debug("keep-alive connection was closed by the server; retrying on a new connection",
                                 metadata: ["http.endpoint": "\(endpoint)"])
                    mayRetry = false
                    continue
                }
                throw error.with(endpoint: endpoint.description)
            }
        }
    }

    /// Closes all connections; later requests fail with ``HTTPClientError/Kind/shutdown``.
    public func shutdown() async {
        await pool.shutdown()
    }

    /// Idle pooled connections (for tests).
    public var idleConnectionCount: Int { pool.idleCount }

    private func makeHead(_ request: HTTPClientRequest) -> HTTPRequestHead {
        var headers = request.headers
        headers.replaceOrAdd(name: "Host", value: request.url.endpoint.authority)
        if !headers.contains(name: "User-Agent") {
            headers.add(name: "User-Agent", value: configuration.userAgent)
        }
        headers.remove(name: "Transfer-Encoding")
        if let body = request.body {
            headers.replaceOrAdd(name: "Content-Length", value: String(body.length))
        } else if request.method == .POST || request.method == .PUT || request.method == .PATCH {
            headers.replaceOrAdd(name: "Content-Length", value: "0")
        } else {
            headers.remove(name: "Content-Length")
        }
        return HTTPRequestHead(version: .http1_1, method: request.method, uri: request.url.target, headers: headers)
    }
}
