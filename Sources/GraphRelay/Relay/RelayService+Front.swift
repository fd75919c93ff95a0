import GraphRelaySMTP
import GraphRelaySpool
import GraphRelayTLS
import Logging

// What a configuration makes of the relay's SMTP side — TLS contexts, access policy, routing,
// the relay policy and the authenticator — built the same way at start and at each reload.
extension RelayService {
    /// The TLS contexts of the SMTP listeners, and what the certificate check reloads.
    struct TLSSources {
        var main: (any SMTPTLSContextSource)?
        /// For listeners with `allowLegacyProtocols` when the others stay modern.
        var legacy: (any SMTPTLSContextSource)?
        var reloadable: [ReloadableTLSContext] = []

        init(_ configuration: RelayConfiguration) throws {
            guard let tls = configuration.tls else { return }
            let context = try ReloadableTLSContext(configuration: tls.serverConfiguration, role: .server)
            main = SMTPTLSContextProvider { context.current }
            reloadable.append(context)
            // Listeners for old devices get a context of their own, so the others stay modern.
            if !tls.allowLegacyProtocols, configuration.smtp.listeners.contains(where: \.allowLegacyProtocols) {
                let legacy = try ReloadableTLSContext(configuration: tls.legacyServerConfiguration, role: .server)
                self.legacy = SMTPTLSContextProvider { legacy.current }
                reloadable.append(legacy)
            }
        }
    }

    /// The SMTP server's configuration, the policy and the authenticator for `configuration`.
    struct Front {
        var server: SMTPServerConfiguration
        var policy: RelayPolicy
        var authenticator: RelayAuthenticator?
    }

    /// Builds the SMTP side for `configuration` with `clients` (`delivery: synchronous`) or
    /// `spool` (`delivery: queue`).
    func makeFront(_ configuration: RelayConfiguration, clients: GraphClients, spool: Spool?, tls: TLSSources) -> Front {
        let access = AccessPolicy(configuration.access)
        let dispatcher: any RelayDispatcher
        if let spool {
            dispatcher = SpoolDispatcher(spool: spool, hostname: configuration.smtp.hostname, maxHeaderSize: configuration.smtp.maxHeaderSize)
        } else {
            dispatcher = SynchronousDispatcher(
                delivery: GraphDelivery(clients: clients, graph: configuration.graph),
                hostname: configuration.smtp.hostname, maxHeaderSize: configuration.smtp.maxHeaderSize,
                report: reportDelivery
            )
        }
        var policyLogger = logger
        policyLogger[metadataKey: "relay.component"] = "policy"
        var policy = RelayPolicy(access: access, router: Router(configuration: configuration), dispatcher: dispatcher, logger: policyLogger)
        policy.headerFromMatchListeners = configuration.headerFromMatchListeners
        policy.storage = StorageSpace(directory: configuration.spool.directory, minimum: configuration.spool.minimumFreeSpace)
        var smtpLogger = logger
        smtpLogger[metadataKey: "relay.component"] = "smtp"
        return Front(
            server: configuration.smtpServerConfiguration(tls: tls.main, legacyTLS: tls.legacy),
            policy: policy,
            authenticator: access.hasUsers ? RelayAuthenticator(access: access, configuration: configuration.access, logger: smtpLogger) : nil
        )
    }
}
