import CoreMetrics
import GraphRelayGraph
import GraphRelayTLS
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// One ``GraphClient`` per configured application, created at start-up: each holds its
/// application's token cache, connection pool and per-mailbox limit. A reload makes a new set
/// that keeps the clients of applications whose settings did not change.
final class GraphClients: Sendable {
    let clients: [String: GraphClient]
    /// Applications for which Graph refused attachments on a draft made from MIME: their large
    /// messages are built as JSON drafts until the relay restarts.
    private let mimeRefused = NIOLockedValueBox<Set<String>>([])

    /// - Parameter previous: the clients in use and the configuration they were made from: a
    ///   client whose application, `graph`, `scheduler` and `delivery` settings are unchanged is
    ///   kept (with its token and its last token status), the others are made anew.
    init(configuration: RelayConfiguration, eventLoopGroup: any EventLoopGroup,
         metricsFactory: any MetricsFactory = NOOPMetricsHandler.instance,
         reusing previous: (clients: GraphClients, configuration: RelayConfiguration)? = nil) throws {
        var clients: [String: GraphClient] = [:]
        var statuses: [String: TokenStatus] = [:]
        for application in configuration.applications {
            if let previous, let client = previous.clients.client(for: application.name),
               previous.configuration.application(named: application.name) == application,
               previous.configuration.graph == configuration.graph, previous.configuration.scheduler == configuration.scheduler,
               previous.configuration.delivery == configuration.delivery {
                clients[application.name] = client
                statuses[application.name] = previous.clients.tokenStatuses[application.name]
                continue
            }
            let (graphApplication, inlineTrust) = application.graphApplication()
            let clientConfiguration = try configuration.graph.clientConfiguration(
                scheduler: configuration.scheduler, delivery: configuration.delivery, extraTrustRoots: inlineTrust
            )
            clients[application.name] = try GraphClient(
                application: graphApplication, configuration: clientConfiguration, eventLoopGroup: eventLoopGroup,
                metricsFactory: metricsFactory
            )
        }
        self.clients = clients
        tokenStatus.withLockedValue { $0 = statuses }
    }

    func client(for application: String) -> GraphClient? {
        clients[application]
    }

    func refusesMIMEDraftAttachments(_ application: String) -> Bool {
        mimeRefused.withLockedValue { $0.contains(application) }
    }

    func rememberMIMEDraftAttachmentsRefused(_ application: String, logger: Logger) {
        let first = mimeRefused.withLockedValue { $0.insert(application).inserted }
        if first {
            logger.warning("Graph refused attachments on a draft made from MIME; this application's large messages are now built as JSON drafts (graph.largeMessageFormat: json makes that the rule)",
                           metadata: ["graph.application": "\(application)"])
        }
    }

    /// Fetches a token for every application, logging what to fix for those that fail. The relay
    /// starts either way: a token outage must not stop devices from handing over their mail.
    /// The outcome of an application's last token attempt, for `/readyz`.
    struct TokenStatus: Sendable, Equatable {
        var obtained: Bool
        /// Why not, and what to fix (never the credential).
        var detail: String?
        /// Entra's AADSTS code, when it gave one.
        var aadstsCode: Int?
    }

    private let tokenStatus = NIOLockedValueBox<[String: TokenStatus]>([:])

    /// Each application's last token attempt (none before the first ``checkTokens(logger:)``).
    var tokenStatuses: [String: TokenStatus] { tokenStatus.withLockedValue { $0 } }

    /// Asks every application for a token — a cached one costs nothing, one due for renewal is
    /// renewed — and records the outcome. Logs the first outcome and every change.
    func checkTokens(logger: Logger) async {
        for (name, client) in clients.sorted(by: { $0.key < $1.key }) {
            let status: TokenStatus
            do {
                try await client.verifyCredentials(logger: logger)
                status = TokenStatus(obtained: true)
            } catch {
                status = TokenStatus(obtained: false, detail: "\(error.detail) — fix: \(error.remedy)", aadstsCode: error.aadstsCode)
            }
            let previous = tokenStatus.withLockedValue { statuses in
                defer { statuses[name] = status }
                return statuses[name]
            }
            guard previous != status else { continue }
            if status.obtained {
                logger.info(previous == nil ? "application credentials verified" : "application obtains tokens again",
                            metadata: ["graph.application": "\(name)"])
            } else {
                logger.error("application cannot get a token: \(status.detail ?? "")", metadata: ["graph.application": "\(name)"])
            }
        }
    }

    /// ``checkTokens(logger:)`` now and then every `interval` until cancelled, so that readiness
    /// follows Entra ID with or without mail waiting.
    func watchTokens(every interval: Duration, logger: Logger) async {
        while !Task.isCancelled {
            await checkTokens(logger: logger)
            try? await Task.sleep(for: interval)
        }
    }

    func shutdown() async {
        for client in clients.values {
            await client.shutdown()
        }
    }
}
