import GraphRelayGraph
import GraphRelayTLS
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// One ``GraphClient`` per configured application, created at start-up and kept for the life of
/// the process: each holds its application's token cache, connection pool and per-mailbox limit.
final class GraphClients: Sendable {
    private let clients: [String: GraphClient]
    /// Applications for which Graph refused attachments on a draft made from MIME: their large
    /// messages are built as JSON drafts until the relay restarts.
    private let mimeRefused = NIOLockedValueBox<Set<String>>([])

    init(configuration: RelayConfiguration, eventLoopGroup: any EventLoopGroup) throws {
        var clients: [String: GraphClient] = [:]
        for application in configuration.applications {
            let (graphApplication, inlineTrust) = application.graphApplication()
            let clientConfiguration = try configuration.graph.clientConfiguration(
                scheduler: configuration.scheduler, delivery: configuration.delivery, extraTrustRoots: inlineTrust
            )
            clients[application.name] = try GraphClient(
                application: graphApplication, configuration: clientConfiguration, eventLoopGroup: eventLoopGroup
            )
        }
        self.clients = clients
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
    func verifyCredentials(logger: Logger) async {
        for (name, client) in clients.sorted(by: { $0.key < $1.key }) {
            do {
                try await client.verifyCredentials(logger: logger)
                logger.info("application credentials verified", metadata: ["graph.application": "\(name)"])
            } catch {
                logger.error("application cannot get a token: \(error.detail) — fix: \(error.remedy)",
                             metadata: ["graph.application": "\(name)"])
            }
        }
    }

    func shutdown() async {
        for client in clients.values {
            await client.shutdown()
        }
    }
}
