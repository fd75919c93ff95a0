import Foundation
import NIOCore
import NIOHTTP1

// The token request of each credential.
extension EntraTokenProvider {
    /// The request that fetches a token with the application's credential: for a managed
    /// identity from the instance metadata service, else `POST {login}/{tenant}/oauth2/v2.0/token`
    /// with the client-credentials grant.
    func tokenRequest() throws(GraphTokenError) -> HTTPClientRequest {
        let name = application.name
        var fields: [(String, String)] = [
            ("client_id", application.clientID),
            ("scope", application.scope),
            ("grant_type", "client_credentials"),
        ]
        switch application.credential {
        case .clientSecret(let secret):
            fields.append(("client_secret", secret))
        case .certificate:
            guard let signer else {
                throw GraphTokenError(.credentialUnavailable, application: name, detail: "certificate not loaded")
            }
            let assertion: String
            do {
                assertion = try signer.assertion(clientID: application.clientID, audience: application.tokenURL)
            } catch {
                throw GraphTokenError(.credentialUnavailable, application: name, detail: error.description)
            }
            fields.append(("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"))
            fields.append(("client_assertion", assertion))
        case .workloadIdentity(let file):
            let assertion: String
            do {
                assertion = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            } catch {
                throw GraphTokenError(.credentialUnavailable, application: name,
                                      detail: "cannot read the federated token file \(file): \((error as NSError).localizedDescription)")
            }
            guard !assertion.isEmpty else {
                throw GraphTokenError(.credentialUnavailable, application: name, detail: "the federated token file \(file) is empty")
            }
            fields.append(("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"))
            fields.append(("client_assertion", assertion))
        case .managedIdentity(let identity):
            return try instanceMetadataRequest(identity)
        }

        let url: HTTPURL
        do {
            url = try HTTPURL(application.tokenURL)
        } catch {
            throw GraphTokenError(.credentialUnavailable, application: name, detail: error.detail)
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        headers.add(name: "Accept", value: "application/json")
        headers.add(name: "client-request-id", value: UUID().uuidString.lowercased())
        return HTTPClientRequest(method: .POST, url: url, headers: headers,
                                 body: .bytes(ByteBuffer(string: FormEncoding.encode(fields))))
    }

    /// `GET {endpoint}?api-version=2018-02-01&resource={graph}[&client_id=…]` with
    /// `Metadata: true`, which the instance metadata service requires (it refuses requests that
    /// came through a proxy, and those without the header).
    private func instanceMetadataRequest(_ identity: ManagedIdentity) throws(GraphTokenError) -> HTTPClientRequest {
        let url: HTTPURL
        do {
            url = try HTTPURL(identity.tokenURL(resource: application.resource))
        } catch {
            throw GraphTokenError(.credentialUnavailable, application: application.name, detail: error.detail, source: .instanceMetadata)
        }
        var headers = HTTPHeaders()
        headers.add(name: "Metadata", value: "true")
        headers.add(name: "Accept", value: "application/json")
        return HTTPClientRequest(method: .GET, url: url, headers: headers)
    }
}
