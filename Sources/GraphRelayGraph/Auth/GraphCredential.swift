import GraphRelayTLS

/// How an application proves its identity to Entra ID: OAuth 2.0 client credentials, or an Azure
/// managed identity that asks the VM's instance metadata service for tokens.
public enum GraphCredential: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    /// A client secret (the secret's *Value*). Never logged.
    case clientSecret(String)
    /// A certificate uploaded to the app registration and its RSA private key (PEM). The client
    /// signs a short-lived JWT assertion (PS256) with the key for every token request. Files are
    /// re-read for every assertion, so a rotated certificate is picked up without a restart.
    case certificate(certificate: PEMSource, privateKey: PEMSource)
    /// Workload identity federation (e.g. Kubernetes): the file's content, re-read for every
    /// token request, is sent as the client assertion.
    case workloadIdentity(tokenFile: String)
    /// An Azure managed identity: no credential on the host; tokens come from the instance
    /// metadata service.
    case managedIdentity(ManagedIdentity)

    /// Whether tokens come from the instance metadata service rather than Entra's token endpoint.
    public var isManagedIdentity: Bool {
        if case .managedIdentity = self { return true }
        return false
    }

    /// Redacted: names the kind of credential only.
    public var description: String {
        switch self {
        case .clientSecret: "client secret (redacted)"
        case .certificate(let certificate, _):
            switch certificate {
            case .file(let path): "certificate \(path)"
            case .pem: "certificate (inline PEM)"
            }
        case .workloadIdentity(let file): "workload identity token file \(file)"
        case .managedIdentity(let identity): identity.description
        }
    }

    public var debugDescription: String { description }
}
