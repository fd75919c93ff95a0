import Foundation

// Answers of the Azure instance metadata service (managed identity), mapped to the same kinds as
// Entra's: a missing identity is a configuration fix, a busy or updating service is transient.
extension GraphTokenError {
    /// Builds the error for a non-200 answer of the instance metadata service's token endpoint:
    /// `{"error": "invalid_request", "error_description": "Identity not found"}` and the like.
    ///
    /// 404 (the service is updating), 410, 429 and 5xx are transient, as Azure documents them;
    /// 400 names a wrong or missing identity or resource; errors Entra returned through the
    /// service keep their AADSTS code.
    static func fromInstanceMetadataResponse(status: Int, body: String, application: String) -> GraphTokenError {
        let json = body.data(using: .utf8).flatMap { (try? JSONSerialization.jsonObject(with: $0)) as? [String: Any] }
        let oauthError = json?["error"] as? String
        let description = (json?["error_description"] as? String) ?? ""
        let firstLine = description.split(whereSeparator: { $0.isNewline }).first.map(String.init) ?? description
        var code: Int?
        if let range = description.range(of: #"AADSTS(\d+)"#, options: .regularExpression) {
            code = Int(description[range].dropFirst(6))
        }
        let lowered = description.lowercased()
        let kind: Kind
        if status == 404 || status == 410 || status == 429 || status >= 500 {
            kind = .endpointUnavailable
        } else if lowered.contains("identity not found") || lowered.contains("multiple user assigned identities") {
            kind = .identityNotFound
        } else if oauthError == "invalid_resource" || code == 500011 {
            kind = .invalidScope
        } else if oauthError == nil {
            kind = .invalidResponse
        } else {
            kind = .rejected
        }
        let snippet = body.prefix(200).replacingOccurrences(of: "\n", with: " ")
        let detail = !firstLine.isEmpty ? firstLine : snippet.isEmpty ? "no error body" : "unexpected body: \(snippet)"
        return GraphTokenError(kind, application: application, status: status, oauthError: oauthError, aadstsCode: code,
                               detail: detail, source: .instanceMetadata)
    }

    /// What to fix when the instance metadata service answered (or did not), where it differs
    /// from the token endpoint's advice.
    var instanceMetadataRemedy: String? {
        switch kind {
        case .identityNotFound:
            "turn on the VM's system-assigned identity (Identity in the Azure portal), or assign the user-assigned identity to the VM and name it with managedIdentity.clientId (required when the VM has several)"
        case .endpointUnavailable:
            "the instance metadata service (169.254.169.254) answers only on an Azure VM or scale set: check that the relay runs on one and that no firewall blocks the address; mail is retried"
        case .invalidResponse:
            "check managedIdentity.endpoint: it must be the instance metadata service's token endpoint"
        case .rejected:
            "see the service's description; the request must come from the VM itself, not through a proxy"
        case .credentialUnavailable:
            "check managedIdentity.endpoint"
        default:
            nil
        }
    }
}
