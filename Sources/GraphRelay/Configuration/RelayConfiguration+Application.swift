import GraphRelayGraph
import GraphRelayTLS

extension RelayConfiguration {
    /// `applications[]`: an Entra ID application registration with `Mail.Send`.
    public struct Application: Sendable, Hashable {
        /// `name`: referenced by routes. Required, unique.
        public var name: String
        /// `cloud`: `global` (default), `usgov`, `usgov-dod`, `china`.
        public var cloud: GraphCloud = .global
        /// `tenantId`: directory (tenant) ID or a verified domain (`contoso.onmicrosoft.com`).
        /// Required (for workload identity, defaults to `AZURE_TENANT_ID`); empty for a managed
        /// identity, which has no such key.
        public var tenantId: String
        /// `clientId`: the application (client) ID, a GUID. Required (for workload identity,
        /// defaults to `AZURE_CLIENT_ID`); for a managed identity, `managedIdentity.clientId` or
        /// empty.
        public var clientId: String
        /// Exactly one of `clientSecret`, `certificate`, `workloadIdentity`, `managedIdentity`.
        public var credential: Credential
        /// `loginEndpoint`: default the cloud's (for workload identity, `AZURE_AUTHORITY_HOST`
        /// when set).
        public var loginEndpoint: ServiceEndpoint
        /// `graphEndpoint`: default the cloud's.
        public var graphEndpoint: ServiceEndpoint
        /// The token scope, always the cloud's `{graph}/.default` (not changed by overriding
        /// `graphEndpoint`).
        public var scope: String
        /// `caFile`: extra trust anchors (PEM) for the login and Graph endpoints. Default none.
        public var caFile: PEMSource?

        public init(name: String, cloud: GraphCloud = .global, tenantId: String, clientId: String, credential: Credential) {
            self.name = name
            self.cloud = cloud
            self.tenantId = tenantId
            self.clientId = clientId
            self.credential = credential
            // The cloud table holds valid https URLs.
            self.loginEndpoint = try! ServiceEndpoint(parsing: cloud.loginEndpoint)
            self.graphEndpoint = try! ServiceEndpoint(parsing: cloud.graphEndpoint)
            self.scope = cloud.scope
        }

        /// `{loginEndpoint}/{tenantId}/oauth2/v2.0/token`.
        public var tokenEndpoint: String { "\(loginEndpoint.url)/\(tenantId)/oauth2/v2.0/token" }

        /// `{graphEndpoint}/v1.0/users/{mailbox}/sendMail` (the mailbox percent-encoded).
        public func sendMailURL(mailbox: String) -> String {
            var allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~@!$&'()*+,;=".utf8)
            allowed.remove(UInt8(ascii: "/"))
            var encoded = ""
            for byte in mailbox.utf8 {
                if allowed.contains(byte) {
                    encoded.append(Character(Unicode.Scalar(byte)))
                } else {
                    encoded += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
                }
            }
            return "\(graphEndpoint.url)/v1.0/users/\(encoded)/sendMail"
        }

        /// A client TLS configuration trusting the system roots plus `caFile`.
        public var clientTLSConfiguration: TLSConfiguration {
            var configuration = TLSConfiguration.client(applicationProtocols: ["http/1.1"])
            if let caFile { configuration.additionalTrustRoots = [caFile] }
            return configuration
        }
    }

    /// How an application authenticates to Entra ID.
    public enum Credential: Sendable, Hashable, CustomStringConvertible {
        /// `clientSecret`: literal, `{ env: NAME }` or `{ file: PATH }`.
        case clientSecret(Secret)
        /// `certificate: { certificate: PEM, privateKey: PEM }`: a JWT client assertion (PS256).
        case certificate(certificate: PEMSource, privateKey: PEMSource)
        /// `workloadIdentity: true` or `{ tokenFile: PATH }`: the federated token file (default
        /// `AZURE_FEDERATED_TOKEN_FILE`), re-read for every token request.
        case workloadIdentity(tokenFile: String)
        /// `managedIdentity: true` or `{ clientId | objectId | resourceId, endpoint }`: an Azure
        /// managed identity; tokens from the VM's instance metadata service.
        case managedIdentity(ManagedIdentity)

        public var description: String {
            switch self {
            case .clientSecret(let secret): "client secret (\(secret.source))"
            case .certificate: "certificate"
            case .workloadIdentity(let file): "workload identity (token file \(file))"
            case .managedIdentity(let identity): identity.description
            }
        }
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
