import Foundation

/// One Entra ID application registration the relay sends as: cloud, tenant, client id and
/// credential, with optional endpoint overrides (tests, proxies, sovereign set-ups) and extra
/// trust anchors.
public struct GraphApplication: Sendable, Hashable {
    /// The configuration name (for logs and route references).
    public var name: String
    /// Default ``GraphCloud/global``.
    public var cloud: GraphCloud
    /// Directory (tenant) ID or a verified domain, e.g. `contoso.onmicrosoft.com`.
    public var tenantID: String
    /// Application (client) ID.
    public var clientID: String
    public var credential: GraphCredential
    /// Replaces the cloud's login endpoint (the scope still comes from ``cloud``). Default nil.
    public var loginEndpoint: String?
    /// Replaces the cloud's Graph endpoint (the scope still comes from ``cloud``). Default nil.
    public var graphEndpoint: String?
    /// PEM file of extra CA certificates trusted for both endpoints, in addition to the system
    /// store. Default nil.
    public var caFile: String?

    public init(name: String, cloud: GraphCloud = .global, tenantID: String, clientID: String, credential: GraphCredential,
                loginEndpoint: String? = nil, graphEndpoint: String? = nil, caFile: String? = nil) {
        self.name = name
        self.cloud = cloud
        self.tenantID = tenantID
        self.clientID = clientID
        self.credential = credential
        self.loginEndpoint = loginEndpoint
        self.graphEndpoint = graphEndpoint
        self.caFile = caFile
    }

    /// An application for workload identity federation, completed from the standard environment
    /// variables the workload identity webhook sets: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
    /// `AZURE_FEDERATED_TOKEN_FILE` and optionally `AZURE_AUTHORITY_HOST` (the login endpoint).
    /// Values given as arguments win over the environment.
    public static func workloadIdentity(
        name: String, cloud: GraphCloud = .global, tenantID: String? = nil, clientID: String? = nil,
        tokenFile: String? = nil, loginEndpoint: String? = nil, graphEndpoint: String? = nil, caFile: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(GraphTokenError) -> GraphApplication {
        func value(_ given: String?, _ variable: String) throws(GraphTokenError) -> String {
            if let given, !given.isEmpty { return given }
            guard let found = environment[variable]?.trimmingCharacters(in: .whitespacesAndNewlines), !found.isEmpty else {
                throw GraphTokenError(.credentialUnavailable, application: name,
                                      detail: "workload identity needs \(variable) (set by the workload identity webhook) or an explicit value")
            }
            return found
        }
        let tenant = try value(tenantID, "AZURE_TENANT_ID")
        let client = try value(clientID, "AZURE_CLIENT_ID")
        let file = try value(tokenFile, "AZURE_FEDERATED_TOKEN_FILE")
        var authority = loginEndpoint ?? environment["AZURE_AUTHORITY_HOST"]?.trimmingCharacters(in: .whitespacesAndNewlines)
        if authority?.isEmpty == true { authority = nil }
        return GraphApplication(name: name, cloud: cloud, tenantID: tenant, clientID: client,
                                credential: .workloadIdentity(tokenFile: file),
                                loginEndpoint: authority, graphEndpoint: graphEndpoint, caFile: caFile)
    }

    /// An application that is an Azure managed identity: no tenant or client id to configure
    /// (the identity's tenant is the VM's; ``clientID`` is the user-assigned identity's client id
    /// when it is named by one, else empty).
    public static func managedIdentity(
        name: String, cloud: GraphCloud = .global, identity: ManagedIdentity = ManagedIdentity(),
        graphEndpoint: String? = nil, caFile: String? = nil
    ) -> GraphApplication {
        var clientID = ""
        if case .clientID(let id) = identity.identity { clientID = id }
        return GraphApplication(name: name, cloud: cloud, tenantID: "", clientID: clientID, credential: .managedIdentity(identity),
                                graphEndpoint: graphEndpoint, caFile: caFile)
    }

    /// The managed identity, when the credential is one.
    public var managedIdentity: ManagedIdentity? {
        if case .managedIdentity(let identity) = credential { return identity }
        return nil
    }

    /// The Graph resource a managed identity asks tokens for: the cloud's Graph root (the scope
    /// without `/.default`).
    public var resource: String { cloud.graphEndpoint }

    /// The login endpoint in effect (override or cloud), without a trailing slash.
    public var effectiveLoginEndpoint: String { Self.trimmed(loginEndpoint) ?? cloud.loginEndpoint }
    /// The Graph endpoint in effect (override or cloud), without a trailing slash.
    public var effectiveGraphEndpoint: String { Self.trimmed(graphEndpoint) ?? cloud.graphEndpoint }
    /// `{cloud graph}/.default`: overrides never change it.
    public var scope: String { cloud.scope }
    /// `{login}/{tenant}/oauth2/v2.0/token`; also the audience of certificate assertions.
    public var tokenURL: String {
        effectiveLoginEndpoint + "/" + HTTPURL.encodePathSegment(tenantID) + "/oauth2/v2.0/token"
    }

    private static func trimmed(_ value: String?) -> String? {
        guard var value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        while value.hasSuffix("/") { value.removeLast() }
        return value
    }
}

extension GraphApplication: CustomStringConvertible, CustomDebugStringConvertible {
    /// Names the application without its credential's secret.
    public var description: String {
        if managedIdentity != nil {
            return "application '\(name)' (cloud \(cloud), \(credential))"
        }
        return "application '\(name)' (cloud \(cloud), tenant \(tenantID), client \(clientID), \(credential))"
    }

    public var debugDescription: String { description }
}
