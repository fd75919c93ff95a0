import Foundation
import GraphEmulator
import GraphRelayGraph
import GraphRelayTestSupport
import Testing

/// A managed identity's tokens from the emulator's instance metadata listener (plain HTTP, as on
/// an Azure VM), then sendMail over HTTPS: the identity chosen, token reuse and refresh, errors
/// mapped like Entra's, the proxy bypassed.
@Suite("Managed identity ↔ emulated instance metadata service", .timeLimit(.minutes(2)))
struct ManagedIdentityLoopbackTests {
    typealias F = GraphFixture

    static let systemID = "aaaaaaaa-0000-4000-8000-000000000001"
    static let userID = "bbbbbbbb-0000-4000-8000-000000000002"
    static let otherUserID = "cccccccc-0000-4000-8000-000000000003"
    static let userObjectID = "dddddddd-0000-4000-8000-000000000004"
    static let userResourceID = "/subscriptions/0000/resourceGroups/mail/providers/Microsoft.ManagedIdentity/userAssignedIdentities/relay"

    /// The emulated VM: which identities it has.
    enum VM {
        case none, systemOnly, systemAndUsers, twoUsers
    }

    static func withVM<T>(_ vm: VM, _ configure: (inout GraphEmulatorConfiguration) -> Void = { _ in },
                          _ body: (GraphEmulator) async throws -> T) async throws -> T {
        try await F.withEmulator({ configuration in
            configuration.metadataPort = 0
            let system = GraphEmulatorConfiguration.Application(tenantID: F.tenant, clientID: systemID, managedIdentity: .systemAssigned)
            let user = GraphEmulatorConfiguration.Application(tenantID: F.tenant, clientID: userID,
                                                              managedIdentity: .userAssigned(objectID: userObjectID, resourceID: userResourceID))
            let otherUser = GraphEmulatorConfiguration.Application(tenantID: F.tenant, clientID: otherUserID,
                                                                   managedIdentity: .userAssigned(objectID: UUID().uuidString, resourceID: "/subscriptions/0000/other"))
            switch vm {
            case .none: break
            case .systemOnly: configuration.applications.append(system)
            case .systemAndUsers: configuration.applications += [system, user, otherUser]
            case .twoUsers: configuration.applications += [user, otherUser]
            }
            configure(&configuration)
        }, body)
    }

    static func application(_ emulator: GraphEmulator, _ identity: ManagedIdentity.Identity = .systemAssigned,
                            cloud: GraphCloud = .global) throws -> GraphApplication {
        let endpoint = try #require(emulator.metadataTokenURL)
        #expect(endpoint.hasPrefix("http://127.0.0.1:"))
        return GraphApplication.managedIdentity(name: "vm", cloud: cloud, identity: ManagedIdentity(identity: identity, endpoint: endpoint),
                                                graphEndpoint: emulator.baseURL, caFile: F.pki.caCertificate)
    }

    @Test("the system-assigned identity sends; one token serves every message")
    func systemAssigned() async throws {
        try await Self.withVM(.systemAndUsers) { emulator in
            try await F.withClient(try Self.application(emulator)) { client in
                for _ in 0..<3 {
                    let outcome = await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger)
                    #expect(outcome.isAccepted, "\(outcome)")
                }
                #expect(emulator.acceptedMessages.map(\.clientID) == Array(repeating: Self.systemID, count: 3))
                #expect(emulator.tokenRequestCount == 1)
            }
        }
    }

    @Test("a user-assigned identity is chosen by client id, object id or resource id", arguments: [
        ManagedIdentity.Identity.clientID(userID), .objectID(userObjectID), .resourceID(userResourceID),
    ])
    func userAssigned(identity: ManagedIdentity.Identity) async throws {
        try await Self.withVM(.systemAndUsers) { emulator in
            try await F.withClient(try Self.application(emulator, identity)) { client in
                let outcome = await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger)
                #expect(outcome.isAccepted, "\(outcome)")
                #expect(emulator.acceptedMessages.map(\.clientID) == [Self.userID])
            }
        }
    }

    @Test("the service's expires_in (a string) is honoured: the token is refreshed before it expires")
    func refresh() async throws {
        try await Self.withVM(.systemOnly, { $0.tokenLifetime = 3 }) { emulator in
            try await F.withClient(try Self.application(emulator)) { client in
                #expect(await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger).isAccepted)
                try await Task.sleep(for: .milliseconds(1600))
                #expect(await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger).isAccepted)
                // Read as the default 3599 s, the token would still be cached (one request); a
                // loaded machine may add a 401 and one more request.
                #expect(emulator.tokenRequestCount >= 2)
            }
        }
    }

    struct FailureCase: Sendable, CustomTestStringConvertible {
        var name: String
        var vm: VM
        var identity: ManagedIdentity.Identity = .systemAssigned
        var cloud: GraphCloud = .global
        var fault: GraphEmulatorTokenFault?
        var kind: GraphTokenError.Kind
        var detail: String
        var remedy: String
        var testDescription: String { name }
    }

    @Test("failures say what to fix, in the terms of the instance metadata service", arguments: [
        FailureCase(name: "no identity on the VM", vm: .none, kind: .identityNotFound, detail: "Identity not found", remedy: "system-assigned identity"),
        FailureCase(name: "a client id the VM does not have", vm: .systemAndUsers, identity: .clientID("eeeeeeee-0000-4000-8000-000000000009"),
                    kind: .identityNotFound, detail: "Identity not found", remedy: "managedIdentity.clientId"),
        FailureCase(name: "several user-assigned identities, none named", vm: .twoUsers, kind: .identityNotFound,
                    detail: "Multiple user assigned identities", remedy: "several"),
        FailureCase(name: "another cloud's resource", vm: .systemOnly, cloud: .usgov, kind: .invalidScope, detail: "AADSTS500011", remedy: "cloud"),
        FailureCase(name: "service unavailable", vm: .systemOnly, fault: .unavailable, kind: .endpointUnavailable, detail: "unexpected body",
                    remedy: "169.254.169.254"),
        FailureCase(name: "connection closed", vm: .systemOnly, fault: .outage, kind: .endpointUnavailable, detail: "closed the connection",
                    remedy: "mail is retried"),
        FailureCase(name: "service updating (404)", vm: .systemOnly, fault: .error(status: 404, error: "not_found", code: 0, description: "IMDS is updating"),
                    kind: .endpointUnavailable, detail: "IMDS is updating", remedy: "169.254.169.254"),
        FailureCase(name: "throttled (429)", vm: .systemOnly, fault: .error(status: 429, error: "too_many_requests", code: 0, description: "Too many requests"),
                    kind: .endpointUnavailable, detail: "Too many requests", remedy: "mail is retried"),
    ])
    func failures(_ test: FailureCase) async throws {
        try await Self.withVM(test.vm) { emulator in
            if let fault = test.fault { emulator.injectTokenFault(fault) }
            try await F.withClient(try Self.application(emulator, test.identity, cloud: test.cloud)) { client in
                let outcome = await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger)
                let failure = try #require(outcome.failure)
                #expect(failure.kind == .tokenFailure)
                let error = try #require(failure.tokenError)
                #expect(error.kind == test.kind, "\(error)")
                #expect(error.source == .instanceMetadata)
                #expect(error.isTransient == (test.kind == .endpointUnavailable))
                #expect(error.detail.contains(test.detail), "\(error)")
                #expect(error.remedy.contains(test.remedy), "\(error.remedy)")
                #expect(error.description.hasPrefix("managed identity token request for application 'vm' failed"), "\(error)")
                #expect(outcome.smtpReply.code == 451, "\(outcome.smtpReply)")
                #expect(emulator.sendMailRequestCount == 0)
            }
        }
    }

    @Test("the instance metadata service is reached directly, never through the configured proxy")
    func proxyBypassed() async throws {
        try await Self.withVM(.systemOnly) { emulator in
            let graphPort = try #require(URL(string: emulator.baseURL)?.port)
            var configuration = F.clientConfiguration()
            // A proxy nobody listens on: only what bypasses it can succeed.
            let closed = try RefusingPort()
            configuration.http.proxy = HTTPProxyConfiguration(host: "127.0.0.1", port: closed.port, noProxy: ["127.0.0.1:\(graphPort)"])
            try await F.withClient(try Self.application(emulator), configuration: configuration) { client in
                let outcome = await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger)
                #expect(outcome.isAccepted, "\(outcome)")
            }
            withExtendedLifetime(closed) {}
        }
    }

    @Test("the emulated service answers curl as Azure's does: Metadata header, GET, api-version, resource, no proxy")
    func emulatedServiceWithCurl() async throws {
        try await Self.withVM(.systemOnly) { emulator in
            let endpoint = try #require(emulator.metadataTokenURL)
            let query = "?api-version=2018-02-01&resource=https%3A%2F%2Fgraph.microsoft.com"
            func curl(_ arguments: [String], _ url: String) async throws -> (status: Int, json: [String: Any]) {
                let marker = "\n--status:"
                let result = try await ProcessRunner.run("curl", ["-s", "--max-time", "10", "-w", "\(marker)%{http_code}"] + arguments + [url], timeout: 20)
                let range = try #require(result.stdout.range(of: marker, options: .backwards), "\(result.stdout) \(result.stderr)")
                let json = (try? JSONSerialization.jsonObject(with: Data(result.stdout[..<range.lowerBound].utf8))) as? [String: Any] ?? [:]
                return (Int(result.stdout[range.upperBound...]) ?? 0, json)
            }
            let ok = try await curl(["-H", "Metadata: true"], endpoint + query)
            #expect(ok.status == 200)
            #expect(ok.json["expires_in"] as? String == "3599")
            #expect(ok.json["client_id"] as? String == Self.systemID)
            #expect((ok.json["access_token"] as? String)?.isEmpty == false)

            let noHeader = try await curl([], endpoint + query)
            #expect(noHeader.status == 400 && noHeader.json["error_description"] as? String == "Required metadata header not specified")
            let proxied = try await curl(["-H", "Metadata: true", "-H", "X-Forwarded-For: 10.0.0.1"], endpoint + query)
            #expect(proxied.status == 400)
            let post = try await curl(["-H", "Metadata: true", "-X", "POST"], endpoint + query)
            #expect(post.status == 405)
            let noVersion = try await curl(["-H", "Metadata: true"], endpoint + "?resource=https%3A%2F%2Fgraph.microsoft.com")
            #expect(noVersion.status == 400 && (noVersion.json["error_description"] as? String)?.contains("api-version") == true)
            let noResource = try await curl(["-H", "Metadata: true"], endpoint + "?api-version=2018-02-01")
            #expect(noResource.status == 400 && noResource.json["error"] as? String == "invalid_request")
            // Only the instance metadata listener serves this path; Graph's does not.
            let onGraph = try await curl(["-k", "-H", "Metadata: true"], emulator.baseURL + "/metadata/identity/oauth2/token" + query)
            #expect(onGraph.status == 400 && onGraph.json["access_token"] == nil)
            #expect(emulator.issuedTokenCount == 1)
        }
    }

    @Test("the application's description names the identity, and no tenant")
    func description() {
        let application = GraphApplication.managedIdentity(name: "vm", identity: ManagedIdentity(identity: .clientID(Self.userID)))
        #expect(application.description == "application 'vm' (cloud global, managed identity (user-assigned, client id \(Self.userID)))")
        #expect(application.clientID == Self.userID)
        #expect(ManagedIdentity().tokenURL(resource: "https://graph.microsoft.com")
            == "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fgraph.microsoft.com")
        #expect(ManagedIdentity(identity: .resourceID("/subscriptions/x")).tokenURL(resource: "r").hasSuffix("&msi_res_id=%2Fsubscriptions%2Fx"))
    }
}
