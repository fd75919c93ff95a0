import Foundation
import NIOCore
import NIOHTTP1

extension GraphEmulatorEngine {
    static let instanceMetadataTokenPath = "/metadata/identity/oauth2/token"

    /// The instance metadata listener serves its token endpoint only.
    static func instanceMetadataRoute(for uri: String) -> GraphEmulatorPlan.Route {
        let path = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? uri
        return path == instanceMetadataTokenPath ? .managedIdentityToken : .unknown(segment: path)
    }

    /// `GET /metadata/identity/oauth2/token?api-version=…&resource=…[&client_id|object_id|msi_res_id=…]`
    /// with `Metadata: true`, as Azure's instance metadata service answers it on a VM whose
    /// identities are the applications with a managed identity.
    func managedIdentityTokenReply(plan: GraphEmulatorPlan, request: GraphEmulatorRequest) -> GraphEmulatorReply {
        applyingTokenFault(plan, error: { status, error, code, description in
            metadataError(status, error: error, description: code == 0 ? description : "AADSTS\(code): \(description)")
        }, otherwise: { issueManagedIdentityToken(request: request) })
    }

    private func issueManagedIdentityToken(request: GraphEmulatorRequest) -> GraphEmulatorReply {
        let head = request.head
        guard head.method == .GET else {
            return metadataError(405, error: "invalid_request", description: "Only GET is supported for this endpoint")
        }
        guard head.headers.first(name: "Metadata")?.lowercased() == "true" else {
            return metadataError(400, error: "invalid_request", description: "Required metadata header not specified")
        }
        guard !head.headers.contains(name: "X-Forwarded-For") else {
            return metadataError(400, error: "invalid_request", description: "Request was forwarded by a proxy; the instance metadata service must be called directly")
        }
        let query = head.uri.split(separator: "?", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
        guard let fields = FormDecoding.decode(query) else {
            return metadataError(400, error: "invalid_request", description: "Malformed query string")
        }
        guard let version = fields["api-version"], !version.isEmpty else {
            return metadataError(400, error: "invalid_request", description: "Required query variable 'api-version' is missing")
        }
        guard let resource = fields["resource"], !resource.isEmpty else {
            return metadataError(400, error: "invalid_request", description: "Required audience parameter not specified")
        }
        let expectedResource = configuration.expectedScope.replacingOccurrences(of: "/.default", with: "")
        guard Self.trimmingSlashes(resource) == Self.trimmingSlashes(expectedResource) else {
            return metadataError(400, error: "invalid_resource",
                                 description: "AADSTS500011: The resource principal named \(resource) was not found in the tenant. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.")
        }

        let identities = configuration.applications.filter { $0.managedIdentity != nil }
        let named = [("client_id", fields["client_id"]), ("object_id", fields["object_id"]), ("msi_res_id", fields["msi_res_id"])]
            .compactMap { name, value in value.map { (name, $0) } }
        guard named.count <= 1 else {
            return metadataError(400, error: "invalid_request", description: "Only one of client_id, object_id and msi_res_id may be given")
        }
        let application: GraphEmulatorConfiguration.Application
        if let (parameter, value) = named.first {
            let match = identities.first { candidate in
                switch (parameter, candidate.managedIdentity) {
                case ("client_id", _): candidate.clientID.lowercased() == value.lowercased()
                case ("object_id", .userAssigned(let objectID, _)?): objectID.lowercased() == value.lowercased()
                case ("msi_res_id", .userAssigned(_, let resourceID)?): resourceID.lowercased() == value.lowercased()
                default: false
                }
            }
            guard let match else {
                return metadataError(400, error: "invalid_request", description: "Identity not found")
            }
            application = match
        } else if let system = identities.first(where: { $0.managedIdentity == .systemAssigned }) {
            application = system
        } else if identities.count == 1 {
            application = identities[0]
        } else if identities.isEmpty {
            return metadataError(400, error: "invalid_request", description: "Identity not found")
        } else {
            return metadataError(400, error: "invalid_request",
                                 description: "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request")
        }
        guard !application.disabled else {
            return metadataError(400, error: "unauthorized_client", description: "AADSTS7000112: Application '\(application.clientID)' is disabled.")
        }

        let value = issueToken(for: application)
        let lifetime = configuration.tokenLifetime
        let now = Int(Date().timeIntervalSince1970)
        // The service answers numbers as strings.
        let json: [String: Any] = [
            "access_token": value, "client_id": application.clientID, "token_type": "Bearer", "resource": resource,
            "expires_in": "\(lifetime)", "ext_expires_in": "\(lifetime)", "expires_on": "\(now + lifetime)", "not_before": "\(now)",
        ]
        return GraphEmulatorReply(status: .ok, headers: ["Content-Type": "application/json; charset=utf-8"], body: Self.json(json))
    }

    /// The instance metadata service's error shape: `{"error": …, "error_description": …}`.
    private func metadataError(_ status: Int, error: String, description: String) -> GraphEmulatorReply {
        GraphEmulatorReply(status: HTTPResponseStatus(statusCode: status), headers: ["Content-Type": "application/json; charset=utf-8"],
                           body: Self.json(["error": error, "error_description": description]))
    }

    private static func trimmingSlashes(_ text: String) -> String {
        var text = text.lowercased()
        while text.hasSuffix("/") { text.removeLast() }
        return text
    }
}
