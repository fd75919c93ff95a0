import GraphRelayGraph
import GraphRelayTLS

extension RelayConfiguration.Application {
    /// The Graph client's view of this application, plus trust anchors given inline (`caFile`
    /// as PEM text), which the Graph client takes through its TLS configuration.
    func graphApplication() -> (application: GraphApplication, inlineTrustRoots: [PEMSource]) {
        let credential: GraphCredential
        switch self.credential {
        case .clientSecret(let secret): credential = .clientSecret(secret.revealedValue)
        case .certificate(let certificate, let privateKey): credential = .certificate(certificate: certificate, privateKey: privateKey)
        case .workloadIdentity(let tokenFile): credential = .workloadIdentity(tokenFile: tokenFile)
        case .managedIdentity(let identity): credential = .managedIdentity(identity)
        }
        var caPath: String?
        var inline: [PEMSource] = []
        switch caFile {
        case .file(let path): caPath = path
        case .pem(let text): inline = [.pem(text)]
        case nil: break
        }
        let application = GraphApplication(
            name: name, cloud: cloud,
            tenantID: tenantId, clientID: clientId, credential: credential,
            loginEndpoint: credential.isManagedIdentity ? nil : loginEndpoint.url, graphEndpoint: graphEndpoint.url, caFile: caPath
        )
        return (application, inline)
    }
}

extension RelayConfiguration.GraphSettings {
    /// The Graph client settings for one application.
    func clientConfiguration(scheduler: RelayConfiguration.Scheduler, delivery: RelayConfiguration.DeliveryMode,
                             extraTrustRoots: [PEMSource]) throws -> GraphClientConfiguration {
        var configuration = GraphClientConfiguration()
        configuration.http.connectTimeout = .init(connectTimeout)
        configuration.http.requestTimeout = .init(requestTimeout)
        // The Graph client passes its own timeouts for sendMail (default 120 s) and token requests
        // (30 s), which take precedence over `http.requestTimeout`: `graph.requestTimeout` must
        // set them too, or it would bound no request at all.
        configuration.sendMailTimeout = .init(requestTimeout)
        configuration.tokenRequestTimeout = .init(requestTimeout)
        configuration.http.maxIdleConnectionsPerEndpoint = maxIdleConnectionsPerHost
        configuration.http.tls.additionalTrustRoots += extraTrustRoots
        // One place holds each mailbox to `scheduler.concurrencyPerMailbox`: with a queue the
        // delivery scheduler (each delivery makes one request at a time), else the client.
        configuration.maxConcurrentRequestsPerMailbox = delivery == .queue ? nil : scheduler.concurrencyPerMailbox
        if let proxy {
            configuration.http.proxy = HTTPProxyConfiguration(
                host: proxy.endpoint.host, port: proxy.endpoint.port,
                username: proxy.username, password: proxy.password?.revealedValue, noProxy: noProxy
            )
        }
        return configuration
    }
}
