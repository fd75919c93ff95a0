import Foundation

/// Why no access token could be obtained, in terms an operator can act on: the OAuth `error`,
/// the AADSTS code and Entra's description, plus what to fix. Never contains the credential.
public struct GraphTokenError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// The secret or certificate assertion was rejected (AADSTS7000215, 700027, 7000218, 700024…).
        case invalidCredential = "credential rejected"
        /// The client secret (or certificate) has expired (AADSTS7000222).
        case expiredCredential = "credential expired"
        /// The tenant does not exist in this cloud (AADSTS90002, 900023).
        case unknownTenant = "tenant not found"
        /// No application with this client id in the tenant (AADSTS700016).
        case unknownApplication = "application not found"
        /// The scope was refused (AADSTS70011, 1002012).
        case invalidScope = "invalid scope"
        /// The application or its service principal is disabled (AADSTS7000112).
        case applicationDisabled = "application disabled"
        /// Any other OAuth error answer.
        case rejected = "token request rejected"
        /// The token endpoint could not be reached or answered 5xx/429: try again later.
        case endpointUnavailable = "token endpoint unavailable"
        /// The token endpoint answered something that is not an OAuth response.
        case invalidResponse = "invalid token response"
        /// The local credential material cannot be used (unreadable key or token file, key does
        /// not match the certificate, missing environment variable).
        case credentialUnavailable = "credential unavailable"
        /// The instance metadata service knows no managed identity that matches (none assigned to
        /// the VM, a wrong id, or several user-assigned identities and none named).
        case identityNotFound = "managed identity not found"
    }

    /// Who answered (or failed to): Entra ID's token endpoint, or the instance metadata service
    /// of a managed identity.
    public enum Source: String, Sendable, Hashable {
        case tokenEndpoint = "token endpoint"
        case instanceMetadata = "instance metadata service"
    }

    public var kind: Kind
    /// The application's configuration name.
    public var application: String
    /// HTTP status of the token endpoint's answer, if there was one.
    public var status: Int?
    /// OAuth `error`, e.g. `invalid_client`.
    public var oauthError: String?
    /// The AADSTS code, e.g. 7000215.
    public var aadstsCode: Int?
    /// Entra's `error_description` (first line) or a local explanation.
    public var detail: String
    public var traceID: String?
    public var correlationID: String?
    /// Default ``Source/tokenEndpoint``.
    public var source: Source

    public init(_ kind: Kind, application: String, status: Int? = nil, oauthError: String? = nil, aadstsCode: Int? = nil,
                detail: String, traceID: String? = nil, correlationID: String? = nil, source: Source = .tokenEndpoint) {
        self.source = source
        self.kind = kind
        self.application = application
        self.status = status
        self.oauthError = oauthError
        self.aadstsCode = aadstsCode
        self.detail = detail
        self.traceID = traceID
        self.correlationID = correlationID
    }

    /// Whether waiting may help (network, 5xx, throttling), as opposed to a configuration fix.
    public var isTransient: Bool { kind == .endpointUnavailable }

    /// What the operator should do about it.
    public var remedy: String {
        switch aadstsCode {
        case 7000215: return "the client secret is wrong: configure the secret's Value (not its Secret ID) from the app registration's Certificates & secrets"
        case 7000222: return "the client secret has expired: create a new secret in Certificates & secrets and update the configuration"
        case 90002, 900023: return "the tenant does not exist in this cloud: check tenantId (directory ID or a verified domain) and cloud"
        case 700016: return "no application with this clientId in the tenant: check clientId (Application ID), tenantId and that the app is registered in that tenant"
        case 700027: return "the certificate assertion was not accepted: upload this certificate to the app registration and check that the private key belongs to it"
        case 700024: return "the client assertion is outside its validity period: check this host's clock"
        case 7000218: return "no credential was sent: configure clientSecret or certificate"
        case 70011, 1002012, 500011: return "the scope was refused: check the cloud setting (the scope is {graph}/.default of that cloud)"
        case 7000112: return "the application is disabled in the tenant: re-enable its service principal (Enterprise applications)"
        case 700213, 70021, 700211, 700212: return "no federated identity credential matches the workload token: check the federated credential's issuer, subject and audience"
        case 50126, 50034: return "this is a user sign-in error; the relay uses application credentials — check clientId and credential"
        default: break
        }
        if source == .instanceMetadata, let remedy = instanceMetadataRemedy { return remedy }
        switch kind {
        case .invalidCredential: return "check the configured credential (secret value or certificate) for this application"
        case .expiredCredential: return "renew the credential in the app registration and update the configuration"
        case .unknownTenant: return "check tenantId and cloud"
        case .unknownApplication: return "check clientId and tenantId"
        case .invalidScope: return "check the cloud setting"
        case .applicationDisabled: return "re-enable the application in the tenant"
        case .rejected: return "see Entra's description; check the application's configuration"
        case .endpointUnavailable: return "check network access (proxy, firewall, DNS) to the login endpoint; mail is retried"
        case .invalidResponse: return "check loginEndpoint: it must be the Entra ID authority (or a faithful stand-in)"
        case .credentialUnavailable: return "fix the local credential files or environment"
        case .identityNotFound: return "check the application's managedIdentity setting"
        }
    }

    public var description: String {
        var text = source == .instanceMetadata
            ? "managed identity token request for application '\(application)' failed: \(kind.rawValue)"
            : "token request for application '\(application)' failed: \(kind.rawValue)"
        var facts: [String] = []
        if let aadstsCode { facts.append("AADSTS\(aadstsCode)") }
        if let oauthError { facts.append(oauthError) }
        if let status { facts.append("HTTP \(status)") }
        if !facts.isEmpty { text += " (\(facts.joined(separator: ", ")))" }
        if !detail.isEmpty { text += ": \(detail)" }
        text += " — fix: \(remedy)"
        if let traceID { text += " [trace \(traceID)]" }
        return text
    }

    /// Builds the error for a non-2xx answer of the token endpoint.
    static func fromResponse(status: Int, body: String, application: String) -> GraphTokenError {
        guard let data = body.data(using: .utf8),
              let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let oauthError = json["error"] as? String else {
            let kind: Kind = (status >= 500 || status == 429) ? .endpointUnavailable : .invalidResponse
            let snippet = body.prefix(200).replacingOccurrences(of: "\n", with: " ")
            return GraphTokenError(kind, application: application, status: status,
                                   detail: snippet.isEmpty ? "no OAuth error body" : "unexpected body: \(snippet)")
        }
        let description = (json["error_description"] as? String) ?? ""
        let firstLine = description.split(whereSeparator: { $0.isNewline }).first.map(String.init) ?? description
        var code = (json["error_codes"] as? [Any])?.first.flatMap { ($0 as? Int) ?? Int("\($0)") }
        if code == nil, let range = description.range(of: #"AADSTS(\d+)"#, options: .regularExpression) {
            code = Int(description[range].dropFirst(6))
        }
        let kind: Kind
        switch code {
        case 7000215, 700027, 7000218, 700024, 700025, 50012, 700023, 700213, 70021, 700211, 700212: kind = .invalidCredential
        case 7000222: kind = .expiredCredential
        case 90002, 900023: kind = .unknownTenant
        case 700016: kind = .unknownApplication
        case 70011, 1002012, 500011: kind = .invalidScope
        case 7000112: kind = .applicationDisabled
        default:
            if status >= 500 || status == 429 || oauthError == "temporarily_unavailable" {
                kind = .endpointUnavailable
            } else if oauthError == "invalid_client" {
                kind = .invalidCredential
            } else if oauthError == "invalid_scope" {
                kind = .invalidScope
            } else {
                kind = .rejected
            }
        }
        return GraphTokenError(kind, application: application, status: status, oauthError: oauthError, aadstsCode: code,
                               detail: firstLine, traceID: json["trace_id"] as? String,
                               correlationID: json["correlation_id"] as? String)
    }
}
