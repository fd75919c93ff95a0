import NIOConcurrencyHelpers
import GraphRelayTLS
import Logging
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// The SMTP listener: binds the configured listeners on an `EventLoopGroup` and runs one
/// ``SMTPSessionHandler`` per connection.
///
/// ```swift
/// let server = SMTPServer(configuration: configuration, policy: relayPolicy,
///                         authenticator: users, logger: logger)
/// let listeners = try await server.start(on: group)     // bound addresses (port 0 → real port)
/// …
/// await server.shutdown()                                 // 421 4.3.2 to every open session
/// ```
///
/// Without a policy nothing is accepted (``SMTPDenyAllPolicy``); without an authenticator AUTH is
/// not offered; without a message store messages go to ``SMTPSpillingMessageStore``.
public final class SMTPServer: Sendable {
    /// The configuration new sessions get (its listeners are the ones bound at start).
    public var configuration: SMTPServerConfiguration { runtime.withLockedValue { $0.configuration } }
    private let runtime: NIOLockedValueBox<Runtime>
    private let metrics: SMTPServerMetrics
    private let logger: Logger
    private let limiter: SMTPConnectionLimiter
    private let state = NIOLockedValueBox(State())

    /// What a new session is made with; ``update(configuration:policy:authenticator:)`` replaces it.
    private struct Runtime: Sendable {
        var configuration: SMTPServerConfiguration
        var services: SMTPSessionHandler.Services
    }

    private struct State {
        var serverChannels: [any Channel] = []
        var sessions: [ObjectIdentifier: any Channel] = [:]
        var started = false
        var shuttingDown = false
    }

    public init(
        configuration: SMTPServerConfiguration,
        policy: (any SMTPPolicy)? = nil,
        authenticator: (any SMTPAuthenticator)? = nil,
        messageStore: (any SMTPMessageStore)? = nil,
        metrics: SMTPServerMetrics = .disabled,
        logger: Logger
    ) {
        self.runtime = NIOLockedValueBox(Runtime(configuration: configuration, services: SMTPSessionHandler.Services(
            policy: policy ?? SMTPDenyAllPolicy(),
            authenticator: authenticator,
            messageStore: messageStore ?? SMTPSpillingMessageStore(),
            hooksOnEventLoop: true,
            metrics: metrics
        )))
        self.metrics = metrics
        metrics.prepare(listeners: configuration.listeners.map(\.name))
        self.logger = logger
        self.limiter = SMTPConnectionLimiter(
            maximumConnections: configuration.limits.maximumConnections,
            maximumPerClient: configuration.limits.maximumConnectionsPerClient
        )
    }

    /// Open sessions right now (admitted connections, all listeners).
    public var openConnectionCount: Int { limiter.openConnections }

    /// Sessions that start from now on use `configuration` (hostname, banner, limits, TLS, and
    /// each bound listener's settings under the same name), `policy` and `authenticator`;
    /// sessions already open finish with what they started with. Listeners are not rebound: a
    /// listener added, removed, moved or given another TLS mode takes effect at the next start.
    public func update(configuration: SMTPServerConfiguration, policy: any SMTPPolicy, authenticator: (any SMTPAuthenticator)?) {
        runtime.withLockedValue { runtime in
            runtime.configuration = configuration
            runtime.services.policy = policy
            runtime.services.authenticator = authenticator
        }
        limiter.update(maximumConnections: configuration.limits.maximumConnections,
                       maximumPerClient: configuration.limits.maximumConnectionsPerClient)
    }

    /// Binds every listener. If one fails to bind, those already bound are closed and the error is
    /// thrown.
    @discardableResult
    public func start(on group: any EventLoopGroup) async throws -> [SMTPBoundListener] {
        try state.withLockedValue { state in
            guard !state.started else { throw SMTPServerError("the SMTP server was already started") }
            state.started = true
        }
        for listener in configuration.listeners where listener.tls != .none && configuration.tls(for: listener) == nil {
            logger.warning("listener has TLS mode \(listener.tls) but no TLS context is configured", metadata: ["smtp.listener": "\(listener.name)"])
        }
        var bound: [SMTPBoundListener] = []
        do {
            for listener in configuration.listeners {
                let channels = try await bind(listener, on: group)
                state.withLockedValue { $0.serverChannels += channels }
                guard let address = channels.first?.localAddress else {
                    throw SMTPServerError("listener \(listener.name) has no local address")
                }
                bound.append(SMTPBoundListener(configuration: listener, address: address))
                logger.info("SMTP listening", metadata: [
                    "smtp.listener": "\(listener.name)", "smtp.address": "\(address)", "smtp.tls": "\(listener.tls)",
                ])
            }
        } catch {
            let channels = state.withLockedValue { state -> [any Channel] in
                defer { state.serverChannels = [] }
                return state.serverChannels
            }
            for channel in channels { try? await channel.close() }
            throw error
        }
        return bound
    }

    /// Binds `listener` once per event loop of `group`, each socket with `SO_REUSEPORT`: the kernel
    /// spreads new connections over the sockets, and a connection is served on the loop that
    /// accepted it — no hand-over to another thread per connection. Before that, a plain bind
    /// checks that nothing listens on the address yet (with `SO_REUSEPORT` alone, a second
    /// process of the same user could share the port silently instead of failing).
    private func bind(_ listener: SMTPListenerConfiguration, on group: any EventLoopGroup) async throws -> [any Channel] {
        let loops = Array(group.makeIterator())
        guard loops.count > 1 else {
            return [try await bind(listener, port: listener.port, loop: loops.first ?? group.next(), sharingPort: false)]
        }
        if listener.port != 0 {
            try await bind(listener, port: listener.port, loop: loops[0], sharingPort: false).close()
        }
        var channels: [any Channel] = []
        do {
            for loop in loops {
                // Port 0: the first bind picks the port, the others join it.
                let port = channels.first?.localAddress?.port ?? listener.port
                channels.append(try await bind(listener, port: port, loop: loop, sharingPort: true))
            }
        } catch {
            for channel in channels { try? await channel.close() }
            throw error
        }
        return channels
    }

    /// `SO_REUSEPORT` (level `SOL_SOCKET`), which NIO names on no platform.
    private static let reusePort = ChannelOptions.Types.SocketOption(level: .socket, name: NIOBSDSocket.Option(rawValue: SO_REUSEPORT))

    private func bind(_ listener: SMTPListenerConfiguration, port: Int, loop: any EventLoop, sharingPort: Bool) async throws -> any Channel {
        let bootstrap = ServerBootstrap(group: loop, childGroup: loop)
            .serverChannelOption(.backlog, value: 511)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(Self.reusePort, value: sharingPort ? 1 : 0)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try self.initializeSession(channel, listener: listener)
                }
            }
        do {
            return try await bootstrap.bind(host: listener.host, port: port).get()
        } catch {
            throw SMTPServerError("cannot listen on \(listener.host):\(port) (\(listener.name)): \(error)")
        }
    }

    private func initializeSession(_ channel: any Channel, listener bound: SMTPListenerConfiguration) throws {
        let (configuration, services) = runtime.withLockedValue { ($0.configuration, $0.services) }
        // The listener's settings as configured now; its address and TLS mode stay the ones bound at start.
        var listener = configuration.listeners.first { $0.name == bound.name } ?? bound
        listener.host = bound.host
        listener.port = bound.port
        listener.tls = bound.tls
        listener.proxyProtocol = bound.proxyProtocol
        services.metrics.connectionOpened(listener: listener.name)
        guard listener.proxyProtocol else {
            return try setUpSession(channel, listener: listener, configuration: configuration, services: services,
                                    remote: channel.remoteAddress, proxy: nil)
        }
        // Behind a load balancer: only it may connect, and its header names the client. Nothing
        // is sent before the header is complete; the session is set up after it.
        let peer = channel.remoteAddress
        var logger = self.logger
        logger[metadataKey: "smtp.proxy"] = "\(peer?.ipAddress ?? "unknown")"
        logger[metadataKey: "smtp.listener"] = "\(listener.name)"
        guard let peer, configuration.proxyTrust[listener.name]?.trusts(peer) == true else {
            logger.warning("connection closed: the PROXY protocol listener accepts only its trustedProxies")
            channel.close(promise: nil)
            return
        }
        let handler = SMTPProxyHeaderHandler(timeout: configuration.limits.proxyHeaderTimeout, logger: logger) { [self] header, _ in
            let remote: SocketAddress = switch header {
            case .proxied(let source, _): source
            case .local: peer
            }
            try self.setUpSession(channel, listener: listener, configuration: configuration, services: services, remote: remote, proxy: peer)
        }
        try channel.pipeline.syncOperations.addHandler(handler)
    }

    /// The session proper: the connection limits, TLS, and the SMTP handler, for the client at
    /// `remote` (the peer, or the client a trusted `proxy` named).
    private func setUpSession(_ channel: any Channel, listener: SMTPListenerConfiguration, configuration: SMTPServerConfiguration,
                              services: SMTPSessionHandler.Services, remote: SocketAddress?, proxy: SocketAddress?) throws {
        let client = remote?.ipAddress ?? "unknown"
        let network = SMTPClientNetwork.key(for: remote)
        let sessionID = SMTPIdentifier.random(hexDigits: 10)
        var logger = self.logger
        logger[metadataKey: "relay.session"] = "\(sessionID)"
        logger[metadataKey: "smtp.client"] = "\(client)"
        logger[metadataKey: "smtp.listener"] = "\(listener.name)"
        if let proxy { logger[metadataKey: "smtp.proxy"] = "\(proxy.ipAddress ?? "unknown")" }

        let shuttingDown = state.withLockedValue { $0.shuttingDown }
        var rejection: SMTPReply?
        if shuttingDown {
            rejection = .shuttingDown(hostname: configuration.hostname)
        } else {
            switch limiter.admit(client: network) {
            case .admitted:
                let key = ObjectIdentifier(channel)
                state.withLockedValue { $0.sessions[key] = channel }
                channel.closeFuture.whenComplete { [limiter, state] _ in
                    limiter.release(client: network)
                    state.withLockedValue { _ = $0.sessions.removeValue(forKey: key) }
                }
            case .tooManyConnections:
                logger.warning("connection refused: too many connections")
                rejection = .tooManyConnections(hostname: configuration.hostname)
            case .tooManyFromClient:
                logger.warning("connection refused: too many connections from this client")
                rejection = .tooManyConnections(hostname: configuration.hostname, from: network)
            }
        }

        let sync = channel.pipeline.syncOperations
        var startTLSContext: TLSContext?
        switch listener.tls {
        case .implicit:
            // Over a limit there is no point in a handshake just to say so.
            guard rejection == nil else {
                channel.close(promise: nil)
                return
            }
            guard let context = configuration.tls(for: listener)?.tlsContextForNewConnection() else {
                logger.error("implicit-TLS connection closed: no TLS context available")
                channel.close(promise: nil)
                return
            }
            try sync.addHandler(TLSHandler(context: context, logger: logger))
        case .starttls:
            if rejection == nil {
                startTLSContext = configuration.tls(for: listener)?.tlsContextForNewConnection()
            }
        case .none:
            break
        }

        let machineConfiguration = SMTPSessionStateMachine.Configuration(
            hostname: configuration.hostname,
            banner: configuration.banner,
            limits: configuration.limits,
            listener: listener,
            startTLSAvailable: startTLSContext != nil,
            authenticationAvailable: services.authenticator != nil
        )
        let local = channel.localAddress
        let session = SMTPSessionInfo(
            id: sessionID, listenerName: listener.name, clientAddress: client, clientPort: remote?.port,
            localAddress: local?.ipAddress ?? "unknown", localPort: local?.port
        )
        try sync.addHandler(SMTPSessionHandler(
            configuration: machineConfiguration, session: session, services: services,
            startTLSContext: startTLSContext, rejection: rejection, logger: logger
        ))
    }

    /// Stops accepting connections at once and drains the open sessions: an idle session is told
    /// `421 4.3.2` now; one with a transaction under way (after MAIL FROM, sending its message, or
    /// waiting for its delivery answer) may finish that transaction and is told then. Sessions
    /// still busy after `gracePeriod` (`smtp.drainTimeout`) are told `421 4.3.2` in the middle of
    /// what they are doing, and closed at most 5 s later whether they read it or not.
    public func shutdown(gracePeriod: TimeAmount = .seconds(30)) async {
        let (servers, sessions) = state.withLockedValue { state -> ([any Channel], [any Channel]) in
            state.shuttingDown = true
            defer { state.serverChannels = [] }
            return (state.serverChannels, Array(state.sessions.values))
        }
        for server in servers {
            try? await server.close()
        }
        let deadline = NIODeadline.now() + gracePeriod
        for session in sessions {
            session.eventLoop.execute {
                session.pipeline.syncOperations.fireUserInboundEventTriggered(SMTPServerShutdownEvent())
            }
        }
        for session in sessions {
            let interrupt = session.eventLoop.scheduleTask(deadline: deadline) {
                session.pipeline.syncOperations.fireUserInboundEventTriggered(SMTPServerShutdownEvent(force: true))
            }
            let forceClose = session.eventLoop.scheduleTask(deadline: deadline + .seconds(5)) {
                session.close(promise: nil)
            }
            try? await session.closeFuture.get()
            interrupt.cancel()
            forceClose.cancel()
        }
        if !sessions.isEmpty {
            logger.info("SMTP sessions closed for shutdown", metadata: ["smtp.sessions": "\(sessions.count)"])
        }
    }
}
