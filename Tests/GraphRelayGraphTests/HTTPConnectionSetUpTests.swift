import GraphRelayTLS
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing
@testable import GraphRelayGraph

/// Connection set-up on a channel that closed between the TCP connect and the set-up (a reset
/// right after connecting, seen under load): a clean failure, no handler left waiting on a
/// promise nobody completes (which a debug build reports as a leaked promise and crashes).
@Suite("HTTP connection set-up on a channel that is already gone")
struct HTTPConnectionSetUpTests {
    @Test("the TLS handshake wait and the proxy tunnel wait fail instead of leaking", arguments: [false, true])
    func closedChannel(viaProxy: Bool) throws {
        let channel = EmbeddedChannel()
        try channel.close().wait()
        let factory = HTTPConnectionFactory(configuration: HTTPClientConfiguration(),
                                            tlsContext: try TLSContext(configuration: .client(), role: .client),
                                            group: channel.eventLoop)
        let proxy = viaProxy ? try HTTPProxyConfiguration(url: "http://127.0.0.1:3128") : nil
        let future = factory.setUp(channel: channel, endpoint: HTTPEndpoint(scheme: .https, host: "graph.example", port: 443),
                                   proxy: proxy, id: 1, timeout: .seconds(5), timedOut: NIOLockedValueBox(false),
                                   logger: Logger(label: "test"))
        channel.embeddedEventLoop.run()
        var failed = false
        future.whenFailure { _ in failed = true }
        channel.embeddedEventLoop.run()
        #expect(failed)
    }
}
