import NIOConcurrencyHelpers
import Foundation
import GraphRelayTLS
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// A Microsoft Graph stand-in for tests and the demo, written from Microsoft's sendMail and
/// client-credentials documentation: an HTTPS (or HTTP) server with the Entra ID token endpoint
/// (`POST /{tenant}/oauth2/v2.0/token`: client secret, certificate assertion verified with the
/// registered certificate's public key, federated token) and `POST /v1.0/users/{mailbox}/sendMail`
/// (MIME in base64, validated like Graph), and optionally the Azure instance metadata service's
/// token endpoint for managed identities on a second, plain-HTTP listener. It records accepted messages, optionally writes them to
/// an outbox folder, injects faults on request, and counts token requests and sendMail concurrency.
///
/// Use the same URL as both login and Graph endpoint: ``baseURL``.
public final class GraphEmulator: Sendable {
    public let configuration: GraphEmulatorConfiguration
    private let engine: GraphEmulatorEngine
    private let state: GraphEmulatorState
    private let group: any EventLoopGroup
    private let tlsContext: TLSContext?
    private let logger: Logger
    private let channel = NIOLockedValueBox<(any Channel)?>(nil)
    private let metadataChannel = NIOLockedValueBox<(any Channel)?>(nil)

    /// - Throws: ``GraphEmulatorError`` or ``TLSError`` for an unusable configuration.
    public init(configuration: GraphEmulatorConfiguration, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                logger: Logger = Logger(label: "graph-emulator")) throws {
        self.configuration = configuration
        self.state = GraphEmulatorState()
        self.engine = try GraphEmulatorEngine(configuration: configuration, state: state, logger: logger)
        self.group = eventLoopGroup
        self.logger = logger
        self.tlsContext = try configuration.tls.map { try TLSContext(configuration: $0, role: .server) }
    }

    /// Creates and starts an emulator.
    public static func start(configuration: GraphEmulatorConfiguration, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                             logger: Logger = Logger(label: "graph-emulator")) async throws -> GraphEmulator {
        let emulator = try GraphEmulator(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
        try await emulator.start()
        return emulator
    }

    /// Binds and starts serving (and the instance metadata listener, when configured).
    public func start() async throws {
        let server = try await bind(port: configuration.port, tlsContext: tlsContext, instanceMetadata: false)
        channel.withLockedValue { $0 = server }
        logger.info("Graph emulator listening", metadata: ["emulator.url": "\(baseURL)"])
        if let metadataPort = configuration.metadataPort {
            let metadata = try await bind(port: metadataPort, tlsContext: nil, instanceMetadata: true)
            metadataChannel.withLockedValue { $0 = metadata }
            logger.info("instance metadata emulator listening", metadata: ["emulator.url": "\(metadataTokenURL ?? "")"])
        }
    }

    private func bind(port: Int, tlsContext: TLSContext?, instanceMetadata: Bool) async throws -> any Channel {
        let engine = self.engine
        let logger = self.logger
        let state = self.state
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                state.withValues { $0.connectionsAccepted += 1 }
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tlsContext {
                        try sync.addHandler(TLSHandler(context: tlsContext, logger: logger))
                    }
                    try sync.addHandler(HTTPResponseEncoder())
                    try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
                    try sync.addHandler(GraphEmulatorHTTPHandler(engine: engine, secure: tlsContext != nil, instanceMetadata: instanceMetadata))
                }
            }
        return try await bootstrap.bind(host: configuration.host, port: port).get()
    }

    /// Stops listening and closes the listener (open connections finish on their own).
    public func shutdown() async {
        for box in [channel, metadataChannel] {
            let server = box.withLockedValue { channel -> (any Channel)? in
                defer { channel = nil }
                return channel
            }
            try? await server?.close()
        }
    }

    /// The bound port (0 before ``start()``).
    public var port: Int {
        channel.withLockedValue { $0?.localAddress?.port } ?? 0
    }

    /// `https://127.0.0.1:<port>` (or `http://` without TLS): the login and Graph endpoint.
    public var baseURL: String {
        let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
        return "\(tlsContext == nil ? "http" : "https")://\(host):\(port)"
    }

    /// `http://127.0.0.1:<port>/metadata/identity/oauth2/token`: the instance metadata service's
    /// token endpoint (a managed identity's `endpoint`), when ``GraphEmulatorConfiguration/metadataPort``
    /// is set.
    public var metadataTokenURL: String? {
        guard let port = metadataChannel.withLockedValue({ $0?.localAddress?.port }) else { return nil }
        let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
        return "http://\(host):\(port)" + GraphEmulatorEngine.instanceMetadataTokenPath
    }

    // MARK: Records

    /// Messages accepted so far, oldest first.
    public var acceptedMessages: [GraphEmulatorMessage] {
        state.withValues { $0.messages }
    }

    /// Messages accepted for `mailbox` (case-insensitive).
    public func messages(for mailbox: String) -> [GraphEmulatorMessage] {
        acceptedMessages.filter { $0.mailbox.lowercased() == mailbox.lowercased() }
    }

    /// Token requests received, at the token endpoint or the instance metadata service
    /// (successful or not).
    public var tokenRequestCount: Int { state.withValues { $0.tokenRequests } }
    /// Tokens issued.
    public var issuedTokenCount: Int { state.withValues { $0.tokensIssued } }
    /// TCP connections accepted (keep-alive reuse shows as fewer connections than requests).
    public var connectionsAccepted: Int { state.withValues { $0.connectionsAccepted } }
    /// sendMail requests received (any outcome).
    public var sendMailRequestCount: Int { state.withValues { $0.sendMailRequests } }

    /// Requests of `operation` received (any outcome).
    public func requestCount(_ operation: GraphEmulatorOperation) -> Int {
        state.withValues { $0.operationCounts[operation] ?? 0 }
    }

    /// When each request of `operation` arrived, in order.
    public func requestTimes(_ operation: GraphEmulatorOperation) -> [Date] {
        state.withValues { $0.operationTimes[operation] ?? [] }
    }

    /// Drafts that exist (created and neither sent nor deleted), in `mailbox` if given.
    public func draftCount(mailbox: String? = nil) -> Int {
        state.withValues { values in
            values.drafts.values.filter { mailbox == nil || $0.mailbox.lowercased() == mailbox!.lowercased() }.count
        }
    }

    /// The highest number of sendMail requests for `mailbox` that were in progress at once.
    public func maxConcurrentSendMail(mailbox: String) -> Int {
        state.withValues { $0.maxActiveSendMail[mailbox.lowercased()] ?? 0 }
    }

    /// Forgets messages and zeroes the counters (tokens stay valid).
    public func reset() {
        state.withValues { values in
            values.messages = []
            values.tokenRequests = 0
            values.tokensIssued = 0
            values.sendMailRequests = 0
            values.maxActiveSendMail = [:]
            values.connectionsAccepted = 0
            values.operationCounts = [:]
            values.operationTimes = [:]
        }
    }

    // MARK: Faults

    /// Queues `fault` for the next `count` sendMail requests (to `mailbox` only, if given).
    public func injectSendMailFault(_ fault: GraphEmulatorFault, count: Int = 1, mailbox: String? = nil) {
        injectFault(fault, on: .sendMail, count: count, mailbox: mailbox)
    }

    /// Queues `fault` for the next `count` requests of `operation` (for `mailbox` only, if given).
    public func injectFault(_ fault: GraphEmulatorFault, on operation: GraphEmulatorOperation, count: Int = 1, mailbox: String? = nil) {
        state.withValues { values in
            for _ in 0..<max(count, 0) { values.faults.append((fault, operation, mailbox)) }
        }
    }

    /// Queues `fault` for the next `count` token requests.
    public func injectTokenFault(_ fault: GraphEmulatorTokenFault, count: Int = 1) {
        state.withValues { values in
            for _ in 0..<max(count, 0) { values.tokenFaults.append(fault) }
        }
    }

    /// Drops all queued faults.
    public func clearFaults() {
        state.withValues { values in
            values.faults = []
            values.tokenFaults = []
        }
    }

    /// Invalidates every issued token: the next sendMail with one gets 401.
    public func revokeAllTokens() {
        state.withValues { $0.tokens = [:] }
    }
}
