import Foundation
import NIOCore
import NIOHTTP1

extension GraphEmulatorEngine {
    /// `POST /{tenant}/oauth2/v2.0/token`, client credentials grant, like Entra ID v2.
    func tokenReply(plan: GraphEmulatorPlan, tenant: String, request: GraphEmulatorRequest) -> GraphEmulatorReply {
        applyingTokenFault(plan, error: { status, error, code, description in
            oauthError(status, error: error, code: code, description: description)
        }, otherwise: { issue(tenant: tenant, request: request) })
    }

    /// The token fault injected into this request, if any, applied to the reply `otherwise`
    /// gives: an error shaped by `error`, a dropped connection, a 503 page, or a delay.
    func applyingTokenFault(_ plan: GraphEmulatorPlan, error: (Int, String, Int, String) -> GraphEmulatorReply,
                            otherwise: () -> GraphEmulatorReply) -> GraphEmulatorReply {
        var delay: TimeAmount?
        switch plan.tokenFault {
        case .error(let status, let oauthError, let code, let description)?:
            return error(status, oauthError, code, description)
        case .outage?:
            return .drop()
        case .unavailable?:
            return GraphEmulatorReply(status: .serviceUnavailable, headers: ["Content-Type": "text/html"],
                                      body: ByteBuffer(string: "<html><body>Service Unavailable</body></html>"))
        case .delay(let amount)?:
            delay = amount
        case nil:
            break
        }
        var reply = otherwise()
        reply.delay = delay
        return reply
    }

    private func issue(tenant: String, request: GraphEmulatorRequest) -> GraphEmulatorReply {
        guard request.head.method == .POST else {
            return oauthError(405, error: "invalid_request", code: 900561, description: "The endpoint only accepts POST requests. Received a \(request.head.method.rawValue) request.")
        }
        let contentType = request.head.headers.first(name: "Content-Type")?.lowercased() ?? ""
        guard contentType.hasPrefix("application/x-www-form-urlencoded") else {
            return oauthError(400, error: "invalid_request", code: 900144, description: "The request body must contain the following parameter: 'grant_type'.")
        }
        guard let form = FormDecoding.decode(String(buffer: request.body)) else {
            return oauthError(400, error: "invalid_request", code: 900144, description: "The request body is not valid form encoding.")
        }
        guard let grant = form["grant_type"] else {
            return oauthError(400, error: "invalid_request", code: 900144, description: "The request body must contain the following parameter: 'grant_type'.")
        }
        guard grant == "client_credentials" else {
            return oauthError(400, error: "unsupported_grant_type", code: 70003, description: "The app requested an unsupported grant type '\(grant)'.")
        }
        let tenantKey = tenant.lowercased()
        let tenantApps = configuration.applications.filter { $0.tenantID.lowercased() == tenantKey }
        guard !tenantApps.isEmpty else {
            return oauthError(400, error: "invalid_request", code: 90002, description: "Tenant '\(tenant)' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.")
        }
        guard let clientID = form["client_id"], !clientID.isEmpty else {
            return oauthError(400, error: "invalid_request", code: 900144, description: "The request body must contain the following parameter: 'client_id'.")
        }
        guard let application = tenantApps.first(where: { $0.clientID.lowercased() == clientID.lowercased() }) else {
            return oauthError(400, error: "unauthorized_client", code: 700016, description: "Application with identifier '\(clientID)' was not found in the directory '\(tenant)'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.")
        }
        guard !application.disabled else {
            return oauthError(400, error: "unauthorized_client", code: 7000112, description: "Application '\(clientID)' is disabled.")
        }
        guard let scope = form["scope"], !scope.isEmpty else {
            return oauthError(400, error: "invalid_scope", code: 70011, description: "The provided request must include a 'scope' input parameter.")
        }
        guard scope == configuration.expectedScope else {
            return oauthError(400, error: "invalid_scope", code: 70011, description: "The provided value for the input parameter 'scope' is not valid. The scope \(scope) is not valid.")
        }

        if let secret = form["client_secret"] {
            if application.secrets.contains(secret) {
                return accessToken(for: application)
            }
            if application.expiredSecrets.contains(secret) {
                return oauthError(401, error: "invalid_client", code: 7000222, description: "The provided client secret keys for app '\(application.clientID)' are expired. Visit the Azure portal to create new keys for your app.")
            }
            return oauthError(401, error: "invalid_client", code: 7000215, description: "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '\(application.clientID)'.")
        }
        if let assertion = form["client_assertion"] {
            guard form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" else {
                return oauthError(400, error: "invalid_request", code: 700029, description: "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.")
            }
            if application.federatedTokens.contains(assertion) {
                return accessToken(for: application)
            }
            let scheme = request.secure ? "https" : "http"
            let host = request.head.headers.first(name: "Host") ?? "localhost"
            let audience = "\(scheme)://\(host)/\(tenant)/oauth2/v2.0/token"
            let registered = certificates[application.clientID.lowercased()] ?? []
            if registered.isEmpty && !application.federatedTokens.isEmpty {
                return oauthError(400, error: "invalid_request", code: 700213, description: "No matching federated identity record found for presented assertion.")
            }
            do {
                let claims = try ClientAssertionVerifier.verify(assertion, certificates: registered, audience: audience,
                                                                clientID: application.clientID, now: Date(), clockSkew: configuration.clockSkew)
                if let jwtID = claims.jwtID {
                    let reused = state.withValues { values -> Bool in
                        !values.usedAssertionIDs.insert(jwtID).inserted
                    }
                    if reused {
                        return oauthError(401, error: "invalid_client", code: 700027, description: "Client assertion contains an invalid signature. [Reason - The jti claim '\(jwtID)' was already used.]")
                    }
                }
                return accessToken(for: application)
            } catch {
                return oauthError(401, error: "invalid_client", code: error.code, description: error.description)
            }
        }
        return oauthError(401, error: "invalid_client", code: 7000218, description: "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
    }

    private func accessToken(for application: GraphEmulatorConfiguration.Application) -> GraphEmulatorReply {
        let value = issueToken(for: application)
        let lifetime = configuration.tokenLifetime
        let json: [String: Any] = ["token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": value]
        return GraphEmulatorReply(status: .ok, headers: ["Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store, no-cache"],
                                  body: Self.json(json))
    }

    /// Records a new token for `application` (valid for ``GraphEmulatorConfiguration/tokenLifetime``).
    func issueToken(for application: GraphEmulatorConfiguration.Application) -> String {
        let value = "emulator." + UUID().uuidString.lowercased() + "." + UUID().uuidString.lowercased()
        let lifetime = configuration.tokenLifetime
        state.withValues { values in
            values.tokens[value] = GraphEmulatorState.IssuedToken(
                clientID: application.clientID, tenantID: application.tenantID,
                expiresAt: Date().addingTimeInterval(TimeInterval(lifetime)))
            values.tokensIssued += 1
        }
        return value
    }

    /// An Entra-shaped OAuth error.
    func oauthError(_ status: Int, error: String, code: Int, description: String) -> GraphEmulatorReply {
        let trace = UUID().uuidString.lowercased()
        let correlation = UUID().uuidString.lowercased()
        let timestamp = ISO8601DateFormatter().string(from: Date())
        let json: [String: Any] = [
            "error": error,
            "error_description": "AADSTS\(code): \(description) Trace ID: \(trace) Correlation ID: \(correlation) Timestamp: \(timestamp)",
            "error_codes": [code],
            "timestamp": timestamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": "https://login.microsoftonline.com/error?code=\(code)",
        ]
        return GraphEmulatorReply(status: HTTPResponseStatus(statusCode: status),
                                  headers: ["Content-Type": "application/json; charset=utf-8"], body: Self.json(json))
    }
}
