import GraphRelayGraph
import Logging
import NIOCore

/// `graph-relay check-config --probe`: asks Entra ID for a token for every configured
/// application and says what came back — nothing is sent.
public enum TokenProbe {
    /// One line per application through `say`; true when every application obtained a token.
    public static func run(configuration: RelayConfiguration, eventLoopGroup: any EventLoopGroup, logger: Logger,
                           say: @Sendable (String) -> Void) async -> Bool {
        let clients: GraphClients
        do {
            clients = try GraphClients(configuration: configuration, eventLoopGroup: eventLoopGroup)
        } catch {
            say("graph clients: cannot be set up — \(error)")
            return false
        }
        await clients.checkTokens(logger: logger)
        let statuses = clients.tokenStatuses
        await clients.shutdown()
        var allObtained = true
        for application in configuration.applications.map(\.name).sorted() {
            guard let status = statuses[application] else { continue }
            if status.obtained {
                say("token: obtained for '\(application)'")
            } else {
                allObtained = false
                say("token: FAILED for '\(application)' — \(status.detail ?? "")\(status.aadstsCode.map { " (AADSTS\($0))" } ?? "")")
            }
        }
        return allObtained
    }
}
