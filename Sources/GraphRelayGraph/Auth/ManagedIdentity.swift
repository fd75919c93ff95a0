/// An Azure managed identity: the relay runs on an Azure VM (or scale set) that has an identity,
/// and asks the VM's instance metadata service (IMDS) for tokens instead of holding a credential.
///
/// The request is `GET {endpoint}?api-version=2018-02-01&resource={graph}[&client_id=…]` with
/// `Metadata: true`, over plain HTTP to the link-local address (the service is reachable from
/// the VM only, and never through a proxy).
public struct ManagedIdentity: Sendable, Hashable, CustomStringConvertible {
    /// Which identity of the VM: its system-assigned one, or a user-assigned one named by one of
    /// its ids (needed when the VM has several user-assigned identities).
    public enum Identity: Sendable, Hashable, CustomStringConvertible {
        /// No id in the request: the system-assigned identity, or the only user-assigned one.
        case systemAssigned
        /// A user-assigned identity's client (application) id: `client_id`.
        case clientID(String)
        /// A user-assigned identity's object (principal) id: `object_id`.
        case objectID(String)
        /// A user-assigned identity's Azure resource id: `msi_res_id`.
        case resourceID(String)

        /// The query parameter naming the identity, if any.
        var queryField: (String, String)? {
            switch self {
            case .systemAssigned: nil
            case .clientID(let id): ("client_id", id)
            case .objectID(let id): ("object_id", id)
            case .resourceID(let id): ("msi_res_id", id)
            }
        }

        public var description: String {
            switch self {
            case .systemAssigned: "system-assigned"
            case .clientID(let id): "user-assigned, client id \(id)"
            case .objectID(let id): "user-assigned, object id \(id)"
            case .resourceID(let id): "user-assigned, resource id \(id)"
            }
        }
    }

    /// The Azure instance metadata service's token endpoint.
    public static let instanceMetadataEndpoint = "http://169.254.169.254/metadata/identity/oauth2/token"
    /// The IMDS API version requested.
    public static let apiVersion = "2018-02-01"

    public var identity: Identity
    /// The token endpoint, without a query. Default ``instanceMetadataEndpoint``; tests point it
    /// at an emulator.
    public var endpoint: String

    public init(identity: Identity = .systemAssigned, endpoint: String = ManagedIdentity.instanceMetadataEndpoint) {
        self.identity = identity
        self.endpoint = endpoint
    }

    /// The token request's URL for `resource` (a Graph root such as `https://graph.microsoft.com`).
    public func tokenURL(resource: String) -> String {
        var fields = [("api-version", Self.apiVersion), ("resource", resource)]
        if let field = identity.queryField { fields.append(field) }
        return endpoint + "?" + FormEncoding.encode(fields)
    }

    public var description: String { "managed identity (\(identity))" }
}
