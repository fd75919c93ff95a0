import Foundation
import GraphEmulator
import GraphRelayGraph
import GraphRelayTestSupport
import GraphRelayTLS
import Logging
import NIOCore
import Testing

/// GraphClient ↔ GraphEmulator over real HTTPS on 127.0.0.1.
@Suite("GraphClient ↔ emulator over HTTPS", .timeLimit(.minutes(2)))
struct GraphClientLoopbackTests {
    typealias F = GraphFixture

    // MARK: Credentials

    @Test("an emulator that runs for long keeps only its recent messages")
    func emulatorRetention() async throws {
        try await F.withEmulator({ $0.retainedMessages = 3 }) { emulator in
            try await F.withClient(F.application(emulator)) { client in
                var requestIDs: [String] = []
                for _ in 0..<10 {
                    let outcome = await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger)
                    guard case .accepted(let receipt) = outcome else {
                        Issue.record("not accepted: \(outcome)")
                        return
                    }
                    requestIDs.append(receipt.requestID ?? "")
                }
                let kept = emulator.acceptedMessages.map(\.requestID)
                #expect(kept.count >= 3 && kept.count <= 6, "\(kept.count) kept")
                #expect(Array(kept.suffix(3)) == Array(requestIDs.suffix(3)))
            }
        }
    }

    @Test func sendsWithClientSecret() async throws {
        try await F.withEmulator { emulator in
            try await F.withClient(F.application(emulator)) { client in
                let message = F.message()
                let outcome = await client.sendMail(mailbox: F.mailbox, message: .bytes(message), logger: F.logger)
                guard case .accepted(let receipt) = outcome else {
                    Issue.record("not accepted: \(outcome)")
                    return
                }
                let stored = try #require(emulator.acceptedMessages.first)
                let identical = stored.mime == message
                #expect(identical)
                #expect(stored.mailbox == F.mailbox)
                #expect(stored.to == ["alice@example.com"])
                #expect(stored.clientID == F.clientID)
                #expect(receipt.requestID == stored.requestID)
                #expect(receipt.clientRequestID == stored.clientRequestID)
                #expect(UUID(uuidString: receipt.clientRequestID) != nil)
                #expect(receipt.attempts == 1)
                #expect(outcome.smtpReply.code == 250)
            }
        }
    }

    @Test func sendsWithCertificateAssertion() async throws {
        try await F.withEmulator { emulator in
            let credential = GraphCredential.certificate(certificate: .file(F.pki.serverCertificate), privateKey: .file(F.pki.serverKey))
            try await F.withClient(F.application(emulator, credential: credential)) { client in
                let outcome = await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger)
                #expect(outcome.isAccepted, "\(outcome)")
                #expect(emulator.issuedTokenCount == 1)
            }
        }
    }

    @Test func unregisteredCertificateIsATokenFailure() async throws {
        let other = try F.pki.issueServerCertificate(name: "graph-unregistered-app-cert")
        try await F.withEmulator { emulator in
            let credential = GraphCredential.certificate(certificate: .file(other.certificate), privateKey: .file(other.key))
            try await F.withClient(F.application(emulator, credential: credential)) { client in
                let outcome = await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger)
                let failure = try #require(outcome.failure)
                #expect(failure.kind == .tokenFailure)
                #expect(failure.tokenError?.aadstsCode == 700027)
                #expect(failure.tokenError?.remedy.contains("upload this certificate") == true)
                #expect(outcome.smtpReply.description.hasPrefix("451 4.7.0"))
                #expect(emulator.sendMailRequestCount == 0)
            }
        }
    }

    @Test func workloadIdentityRereadsTheTokenFile() async throws {
        let directory = NSTemporaryDirectory() + "graph-wi-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/token"
        try "stale-projected-token\n".write(toFile: file, atomically: true, encoding: .utf8)
        try await F.withEmulator({ configuration in
            configuration.applications.append(.init(tenantID: F.tenant, clientID: "wi-client", federatedTokens: ["fresh-projected-token"]))
        }) { emulator in
            var application = try GraphApplication.workloadIdentity(name: "wi", environment: [
                "AZURE_TENANT_ID": F.tenant, "AZURE_CLIENT_ID": "wi-client", "AZURE_FEDERATED_TOKEN_FILE": file,
                "AZURE_AUTHORITY_HOST": emulator.baseURL + "/",
            ])
            #expect(application.effectiveLoginEndpoint == emulator.baseURL)
            application.graphEndpoint = emulator.baseURL
            application.caFile = F.pki.caCertificate
            try await F.withClient(application) { client in
                let first = await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger)
                #expect(first.failure?.kind == .tokenFailure)
                #expect(first.failure?.tokenError?.aadstsCode == 700213)
                try "fresh-projected-token\n".write(toFile: file, atomically: true, encoding: .utf8)
                let second = await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger)
                #expect(second.isAccepted, "\(second)")
            }
        }
    }

    @Test func workloadIdentityNeedsItsEnvironment() {
        #expect {
            try GraphApplication.workloadIdentity(name: "wi", environment: ["AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c"])
        } throws: { error in
            "\(error)".contains("AZURE_FEDERATED_TOKEN_FILE")
        }
    }

    @Test(arguments: [
        ("wrong-secret", F.tenant, F.clientID, 7000215, GraphTokenError.Kind.invalidCredential),
        ("old-secret", F.tenant, F.clientID, 7000222, .expiredCredential),
        (F.secret, "nowhere.onmicrosoft.com", F.clientID, 90002, .unknownTenant),
        (F.secret, F.tenant, "99999999-0000-0000-0000-000000000000", 700016, .unknownApplication),
    ])
    func tokenErrorsSayWhatToFix(secret: String, tenant: String, clientID: String, code: Int, kind: GraphTokenError.Kind) async throws {
        try await F.withEmulator { emulator in
            let application = F.application(emulator, credential: .clientSecret(secret), tenant: tenant, clientID: clientID)
            try await F.withClient(application) { client in
                let outcome = await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger)
                let failure = try #require(outcome.failure)
                #expect(failure.kind == .tokenFailure)
                let tokenError = try #require(failure.tokenError)
                #expect(tokenError.kind == kind)
                #expect(tokenError.aadstsCode == code)
                #expect(!tokenError.description.contains(F.secret))
                #expect(outcome.smtpReply.code == 451)
                do throws(GraphTokenError) {
                    try await client.verifyCredentials(logger: F.logger)
                    Issue.record("verifyCredentials should fail")
                } catch {
                    #expect(error.aadstsCode == code)
                }
            }
        }
    }

    @Test func wrongCloudScopeIsReported() async throws {
        try await F.withEmulator { emulator in
            try await F.withClient(F.application(emulator, cloud: .usgov)) { client in
                let outcome = await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger)
                #expect(outcome.failure?.tokenError?.kind == .invalidScope)
                #expect(outcome.failure?.tokenError?.detail.contains("https://graph.microsoft.us/.default") == true)
            }
        }
    }

    @Test func tokenEndpointOutageAndUnavailability() async throws {
        try await F.withEmulator { emulator in
            try await F.withClient(F.application(emulator)) { client in
                emulator.injectTokenFault(.outage)
                let dropped = await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger)
                #expect(dropped.failure?.tokenError?.kind == .endpointUnavailable)
                emulator.injectTokenFault(.unavailable)
                let unavailable = await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger)
                #expect(unavailable.failure?.tokenError?.kind == .endpointUnavailable)
                #expect(unavailable.failure?.tokenError?.status == 503)
                // The endpoint recovers: the next message goes through.
                let recovered = await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger)
                #expect(recovered.isAccepted)
            }
        }
    }

    // MARK: Token caching

    @Test func tokenIsCachedAcrossManySends() async throws {
        try await F.withEmulator { emulator in
            try await F.withClient(F.application(emulator)) { client in
                for _ in 0..<5 {
                    #expect(await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger).isAccepted)
                }
                await withTaskGroup(of: Bool.self) { group in
                    for index in 0..<15 {
                        group.addTask {
                            await client.sendMail(mailbox: index % 2 == 0 ? F.mailbox : F.otherMailbox,
                                                  message: .bytes(F.message(from: index % 2 == 0 ? F.mailbox : F.otherMailbox)),
                                                  logger: F.logger).isAccepted
                        }
                    }
                    for await accepted in group { #expect(accepted) }
                }
                #expect(emulator.acceptedMessages.count == 20)
                #expect(emulator.tokenRequestCount == 1)
            }
        }
    }

    @Test func concurrentSendersShareOneTokenRequest() async throws {
        try await F.withEmulator { emulator in
            emulator.injectTokenFault(.delay(.milliseconds(300)))
            try await F.withClient(F.application(emulator)) { client in
                await withTaskGroup(of: Bool.self) { group in
                    for _ in 0..<8 {
                        group.addTask { await client.sendMail(mailbox: F.otherMailbox, message: .bytes(F.message(from: F.otherMailbox)), logger: F.logger).isAccepted }
                    }
                    for await accepted in group { #expect(accepted) }
                }
                #expect(emulator.tokenRequestCount == 1)
            }
        }
    }

    @Test func expiringTokenIsRefreshedBeforeExpiry() async throws {
        // A lifetime long enough that a busy machine (the whole suite on 2 cores) does not let
        // the first token expire before the second send.
        try await F.withEmulator({ $0.tokenLifetime = 8 }) { emulator in
            var configuration = F.clientConfiguration()
            configuration.tokenRefreshMargin = .seconds(300)
            try await F.withClient(F.application(emulator), configuration: configuration) { client in
                #expect(await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger).isAccepted)
                // Refresh is due at half the 8 s lifetime, long before the token expires.
                try await Task.sleep(for: .milliseconds(4100))
                #expect(await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger).isAccepted)
                #expect(emulator.tokenRequestCount == 2)
                #expect(emulator.sendMailRequestCount == 2)
            }
        }
    }

    @Test func unauthorizedForcesOneRefreshAndOneRetry() async throws {
        try await F.withEmulator { emulator in
            try await F.withClient(F.application(emulator)) { client in
                #expect(await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger).isAccepted)
                emulator.revokeAllTokens()
                let message = F.message(bodySize: 10_000)
                let outcome = await client.sendMail(mailbox: F.mailbox, message: .bytes(message), logger: F.logger)
                guard case .accepted(let receipt) = outcome else {
                    Issue.record("not accepted: \(outcome)")
                    return
                }
                #expect(receipt.attempts == 2)
                #expect(emulator.tokenRequestCount == 2)
                #expect(emulator.sendMailRequestCount == 3)
                let identical = emulator.acceptedMessages.last?.mime == message
                #expect(identical)
            }
        }
    }

    @Test func persistentUnauthorizedStopsAfterOneRetry() async throws {
        try await F.withEmulator { emulator in
            emulator.injectSendMailFault(.error(status: 401, code: "InvalidAuthenticationToken", message: "Access token validation failure."), count: 3)
            try await F.withClient(F.application(emulator)) { client in
                let outcome = await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger)
                let failure = try #require(outcome.failure)
                #expect(failure.kind == .unauthorized)
                #expect(failure.errorCode == "InvalidAuthenticationToken")
                #expect(emulator.sendMailRequestCount == 2)
                #expect(emulator.tokenRequestCount == 2)
                #expect(outcome.smtpReply.description.hasPrefix("451 4.7.0"))
            }
        }
    }

    // MARK: Failure classes

    struct FaultCase: Sendable, CustomTestStringConvertible {
        var name: String
        var fault: GraphEmulatorFault
        var kind: GraphSendFailure.Kind
        var reply: String
        var ambiguous: Bool
        var stored: Bool = false
        /// Requests that meet the fault (a failure before the body was complete on a reused
        /// connection is retried once on a new one).
        var count: Int = 1
        /// Large for a drop during the body, so that it happens long before the body is all sent.
        var bodySize: Int = 20_000
        var testDescription: String { name }
    }

    @Test(arguments: [
        FaultCase(name: "429", fault: .throttle(retryAfter: "2.5"), kind: .throttled, reply: "451 4.4.5", ambiguous: false),
        FaultCase(name: "503", fault: .serviceUnavailable(retryAfter: "7"), kind: .transient, reply: "451 4.4.5", ambiguous: true),
        FaultCase(name: "504", fault: .gatewayTimeout, kind: .transient, reply: "451 4.4.1", ambiguous: true),
        FaultCase(name: "500", fault: .error(status: 500, code: "InternalServerError", message: "boom"), kind: .transient, reply: "451 4.4.0", ambiguous: true),
        FaultCase(name: "invalid base64", fault: .error(status: 400, code: "ErrorMimeContentInvalidBase64String", message: "Invalid base64 string for MIME content."), kind: .invalidContent, reply: "554 5.6.0", ambiguous: false),
        FaultCase(name: "drop during body", fault: .dropDuringRequest, kind: .transient, reply: "451 4.4.2", ambiguous: false, count: 2, bodySize: 2_000_000),
        FaultCase(name: "drop after body", fault: .dropAfterRequest, kind: .transient, reply: "451 4.4.2", ambiguous: true),
        FaultCase(name: "stored then dropped", fault: .acceptThenDrop, kind: .transient, reply: "451 4.4.2", ambiguous: true, stored: true),
    ])
    func injectedFaults(_ testCase: FaultCase) async throws {
        try await F.withEmulator { emulator in
            emulator.injectSendMailFault(testCase.fault, count: testCase.count)
            try await F.withClient(F.application(emulator)) { client in
                let outcome = await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message(bodySize: testCase.bodySize)), logger: F.logger)
                let failure = try #require(outcome.failure)
                #expect(failure.kind == testCase.kind)
                #expect(failure.ambiguous == testCase.ambiguous)
                #expect(outcome.smtpReply.description.hasPrefix(testCase.reply), "\(outcome.smtpReply)")
                #expect(failure.clientRequestID != nil)
                if failure.status != nil {
                    #expect(failure.requestID != nil)
                }
                #expect(emulator.acceptedMessages.count == (testCase.stored ? 1 : 0))
                #expect(emulator.sendMailRequestCount == testCase.count)
                if case .throttle = testCase.fault { #expect(failure.retryAfter == .milliseconds(2500)) }
                if case .serviceUnavailable = testCase.fault { #expect(failure.retryAfter == .seconds(7)) }
                // The client recovers on the next message.
                #expect(await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger).isAccepted)
            }
        }
    }

    @Test func graphValidationFailures() async throws {
        try await F.withEmulator({ configuration in
            configuration.maxMessageBytes = 50_000
            configuration.applications[0].allowedMailboxes = [F.mailbox]
        }) { emulator in
            try await F.withClient(F.application(emulator)) { client in
                func send(_ mailbox: String, _ message: [UInt8]) async -> GraphSendMailOutcome {
                    await client.sendMail(mailbox: mailbox, message: .bytes(message), logger: F.logger)
                }
                let unknown = await send("nobody@contoso.com", F.message(from: "nobody@contoso.com"))
                #expect(unknown.failure?.kind == .unknownMailbox)
                #expect(unknown.smtpReply.description.hasPrefix("550 5.1.1"))

                let sendAs = await send(F.mailbox, F.message(from: "ceo@contoso.com"))
                #expect(sendAs.failure?.errorCode == "ErrorSendAsDenied")
                #expect(sendAs.smtpReply.description.hasPrefix("550 5.7.1 The user account which was used to submit this request"))

                let policy = await send(F.otherMailbox, F.message(from: F.otherMailbox))
                #expect(policy.failure?.errorCode == "ErrorAccessDenied")
                #expect(policy.smtpReply.description.hasPrefix("550 5.7.1 Access to OData is disabled"))

                let noRecipients = await send(F.mailbox, F.message(to: nil))
                #expect(noRecipients.failure?.kind == .invalidRecipients)
                #expect(noRecipients.smtpReply.description.hasPrefix("550 5.1.3"))

                let bccOnly = await send(F.mailbox, F.message(to: nil, extraHeaders: "Bcc: hidden@example.com\r\n"))
                #expect(bccOnly.isAccepted)
                #expect(emulator.acceptedMessages.last?.bcc == ["hidden@example.com"])

                let tooBig = await send(F.mailbox, F.message(bodySize: 60_000))
                #expect(tooBig.failure?.errorCode == "ErrorMessageSizeExceeded")
                #expect(tooBig.smtpReply.description.hasPrefix("552 5.3.4"))
            }
        }
    }

    @Test func fourMegabyteRequestLimit() async throws {
        try await F.withEmulator { emulator in
            // Above the limit the client refuses locally, without an upload.
            let big = F.message(bodySize: 3_300_000)
            try await F.withClient(F.application(emulator)) { client in
                let local = await client.sendMail(mailbox: F.mailbox, message: .bytes(big), logger: F.logger)
                #expect(local.failure?.kind == .tooLarge)
                #expect(local.failure?.status == nil)
                #expect(emulator.sendMailRequestCount == 0)
            }
            // A client configured for more meets the emulator's 413.
            var configuration = F.clientConfiguration()
            configuration.maxRequestBodySize = 8 * 1024 * 1024
            try await F.withClient(F.application(emulator), configuration: configuration) { client in
                let remote = await client.sendMail(mailbox: F.mailbox, message: .bytes(big), logger: F.logger)
                let failure = try #require(remote.failure)
                #expect(failure.status == 413)
                #expect(failure.kind == .tooLarge)
                #expect(!failure.ambiguous)
                #expect(remote.smtpReply.description.hasPrefix("552 5.3.4"))
                #expect(emulator.sendMailRequestCount == 1)
            }
        }
    }

    @Test func largeStreamedMessageArrivesByteExact() async throws {
        let message = F.message(bodySize: 3_000_000)
        #expect(message.count <= GraphClientConfiguration().maxMessageSize)
        try await F.withEmulator { emulator in
            try await F.withClient(F.application(emulator)) { client in
                // Delivered in small, uneven chunks, as an SMTP session would produce them.
                let source = GraphMessageSource(byteCount: message.count) { sink in
                    var offset = 0
                    var step = 1
                    while offset < message.count {
                        let size = min(997 + step % 7, message.count - offset)
                        try await sink(ByteBuffer(bytes: message[offset..<offset + size]))
                        offset += size
                        step += 1
                    }
                }
                let outcome = await client.sendMail(mailbox: F.mailbox, message: source, logger: F.logger)
                #expect(outcome.isAccepted, "\(outcome)")
                let stored = try #require(emulator.acceptedMessages.first)
                #expect(stored.mime.count == message.count)
                let identical = stored.mime == message
                #expect(identical)
            }
        }
    }

    @Test func fileSourceStreamsFromDisk() async throws {
        let message = F.message(bodySize: 500_000)
        let path = NSTemporaryDirectory() + "graph-file-source-\(UUID().uuidString).eml"
        try Data(message).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await F.withEmulator { emulator in
            try await F.withClient(F.application(emulator)) { client in
                let outcome = await client.sendMail(mailbox: F.mailbox, message: try .file(path: path, chunkSize: 10_000), logger: F.logger)
                #expect(outcome.isAccepted, "\(outcome)")
                let identical = emulator.acceptedMessages.first?.mime == message
                #expect(identical)
            }
        }
    }

    @Test func sourceShorterThanAnnouncedIsALocalErrorAndSendsNothing() async throws {
        try await F.withEmulator { emulator in
            try await F.withClient(F.application(emulator)) { client in
                let short = GraphMessageSource(byteCount: 1000) { sink in
                    try await sink(ByteBuffer(bytes: F.message()))
                }
                let outcome = await client.sendMail(mailbox: F.mailbox, message: short, logger: F.logger)
                let failure = try #require(outcome.failure)
                #expect(failure.kind == .localError)
                #expect(!failure.ambiguous)
                #expect(failure.message.contains("of the announced 1000 bytes"))
                let failing = GraphMessageSource(byteCount: 100) { _ in
                    throw GraphMessageSourceError("spool file vanished")
                }
                let broken = await client.sendMail(mailbox: F.mailbox, message: failing, logger: F.logger)
                #expect(broken.failure?.message.contains("spool file vanished") == true)
                #expect(emulator.acceptedMessages.isEmpty)
                // The connection pool is not poisoned.
                #expect(await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger).isAccepted)
            }
        }
    }

    @Test func dropBeforeTheBodyIsCompleteIsRetriedOnAFreshConnection() async throws {
        try await F.withEmulator { emulator in
            emulator.injectSendMailFault(.dropDuringRequest)
            try await F.withClient(F.application(emulator)) { client in
                // Large enough that the emulator drops the connection long before the body is sent.
                let message = F.message(bodySize: 2_000_000)
                let outcome = await client.sendMail(mailbox: F.mailbox, message: .bytes(message), logger: F.logger)
                #expect(outcome.isAccepted, "\(outcome)")
                #expect(emulator.sendMailRequestCount == 2)
                let delivered = emulator.acceptedMessages.map(\.mime) == [message]
                #expect(delivered)
            }
        }
    }

    @Test func stalledMessageSourceIsBoundedByTheRequestTimeout() async throws {
        try await F.withEmulator { emulator in
            var configuration = F.clientConfiguration()
            configuration.sendMailTimeout = .milliseconds(500)
            try await F.withClient(F.application(emulator), configuration: configuration) { client in
                let message = F.message()
                let stalled = GraphMessageSource(byteCount: message.count) { sink in
                    try await sink(ByteBuffer(bytes: message.prefix(10)))
                    try await Task.sleep(for: .seconds(60))  // a spool read that never returns
                }
                let outcome = await client.sendMail(mailbox: F.mailbox, message: stalled, logger: F.logger)
                let failure = try #require(outcome.failure)
                #expect(failure.transportError?.kind == .requestTimeout)
                #expect(!failure.ambiguous)
                #expect(emulator.acceptedMessages.isEmpty)
            }
        }
    }

    @Test func slowGraphTimesOutAmbiguously() async throws {
        try await F.withEmulator { emulator in
            var configuration = F.clientConfiguration()
            configuration.sendMailTimeout = .seconds(2)
            try await F.withClient(F.application(emulator), configuration: configuration) { client in
                // A first message fetches the token and opens the connection, so that the timed
                // request only has to send its body (well within the timeout, even on a loaded
                // machine) before the emulator keeps it waiting.
                #expect(await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger).failure == nil)
                emulator.injectSendMailFault(.delay(.seconds(8)))
                let outcome = await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger)
                let failure = try #require(outcome.failure)
                #expect(failure.transportError?.kind == .requestTimeout)
                #expect(failure.ambiguous)
                #expect(outcome.smtpReply.description.hasPrefix("451 4.4.1"))
            }
        }
    }

    @Test func cancellationAfterTheUploadIsAmbiguous() async throws {
        try await F.withEmulator { emulator in
            emulator.injectSendMailFault(.delay(.seconds(30)))
            try await F.withClient(F.application(emulator)) { client in
                let task = Task { await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger) }
                // Wait (bounded) until the emulator holds the request, then give up on it.
                for _ in 0..<500 where emulator.sendMailRequestCount == 0 {
                    try await Task.sleep(for: .milliseconds(10))
                }
                #expect(emulator.sendMailRequestCount == 1)
                // The emulator counts a request at its head; give the small body time to be
                // written too (on a loaded machine it can lag), so the upload is surely complete.
                try await Task.sleep(for: .milliseconds(500))
                task.cancel()
                let outcome = await task.value
                let failure = try #require(outcome.failure)
                #expect(failure.transportError?.kind == .cancelled)
                #expect(failure.kind == .localError)
                #expect(failure.ambiguous)
            }
        }
    }

    @Test func mailboxConcurrencyIsLimited() async throws {
        try await F.withEmulator { emulator in
            emulator.injectSendMailFault(.delay(.milliseconds(150)), count: 12)
            try await F.withClient(F.application(emulator)) { client in
                await withTaskGroup(of: Bool.self) { group in
                    for _ in 0..<12 {
                        group.addTask { await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger).isAccepted }
                    }
                    for await accepted in group { #expect(accepted) }
                }
            }
            #expect(emulator.maxConcurrentSendMail(mailbox: F.mailbox) <= 4)
            #expect(emulator.maxConcurrentSendMail(mailbox: F.mailbox) >= 2)
            #expect(emulator.acceptedMessages.count == 12)
        }
    }

    @Test func keepAliveConnectionIsReused() async throws {
        try await F.withEmulator { emulator in
            try await F.withClient(F.application(emulator)) { client in
                for _ in 0..<5 {
                    #expect(await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger).isAccepted)
                }
                // Token and sendMail share the emulator's endpoint: one connection for six requests.
                #expect(emulator.connectionsAccepted == 1)
            }
        }
    }

    // MARK: Transport

    @Test func untrustedServerCertificateFails() async throws {
        try await F.withEmulator { emulator in
            var application = F.application(emulator)
            application.caFile = F.pki.otherCACertificate
            try await F.withClient(application) { client in
                let outcome = await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger)
                let tokenError = try #require(outcome.failure?.tokenError)
                #expect(tokenError.kind == .endpointUnavailable)
                #expect(tokenError.detail.contains("certificate verify failed"))
            }
        }
    }

    @Test func connectionRefusedIsTransientAndSafe() async throws {
        let closed = try RefusingPort()
        let application = GraphApplication(name: "t", tenantID: F.tenant, clientID: F.clientID, credential: .clientSecret("x"),
                                           graphEndpoint: "https://127.0.0.1:\(closed.port)", caFile: F.pki.caCertificate)
        let http = try HTTPClient(configuration: F.clientConfiguration().http)
        let client = try GraphClient(application: application, configuration: F.clientConfiguration(),
                                     tokenProvider: StaticTokenProvider("t"), httpClient: http)
        let outcome = await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger)
        await http.shutdown()
        withExtendedLifetime(closed) {}
        let failure = try #require(outcome.failure)
        #expect(failure.transportError?.kind == .connectFailed)
        #expect(!failure.ambiguous)
        #expect(outcome.smtpReply.description.hasPrefix("451 4.4.2"))
    }

    @Test func sendsThroughConnectProxy() async throws {
        let proxy = try await GraphConnectProxy.start(requiredAuthorization: "Basic " + Data("relay:pa ss".utf8).base64EncodedString())
        defer { Task { await proxy.shutdown() } }
        try await F.withEmulator { emulator in
            var configuration = F.clientConfiguration()
            // Two TLS handshakes through the tunnel: room for a busy machine.
            configuration.http.connectTimeout = .seconds(15)
            configuration.tokenRequestTimeout = .seconds(20)
            configuration.http.proxy = try HTTPProxyConfiguration(url: "http://relay:pa%20ss@127.0.0.1:\(proxy.port)")
            try await F.withClient(F.application(emulator), configuration: configuration) { client in
                let message = F.message(bodySize: 300_000)
                let outcome = await client.sendMail(mailbox: F.mailbox, message: .bytes(message), logger: F.logger)
                #expect(outcome.isAccepted, "\(outcome)")
                let identical = emulator.acceptedMessages.first?.mime == message
                #expect(identical)
                #expect(proxy.tunnels == ["127.0.0.1:\(emulator.port)"])
            }
            configuration.http.proxy = try HTTPProxyConfiguration(url: "http://relay:wrong@127.0.0.1:\(proxy.port)")
            try await F.withClient(F.application(emulator), configuration: configuration) { client in
                let outcome = await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger)
                let tokenError = try #require(outcome.failure?.tokenError)
                #expect(tokenError.detail.contains("requires authentication (407"))
                #expect(!tokenError.description.contains("wrong"))
            }
            // no_proxy bypasses it.
            configuration.http.proxy = try HTTPProxyConfiguration(url: "http://127.0.0.1:\(proxy.port)", noProxy: ["127.0.0.1"])
            try await F.withClient(F.application(emulator), configuration: configuration) { client in
                #expect(await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger).isAccepted)
                #expect(proxy.tunnels.count == 1)
            }
        }
    }

    @Test func secretsTokensAndAssertionsAreNeverLogged() async throws {
        let store = LogCapture()
        let logger = store.logger("graph-secrecy", level: .trace)
        try await F.withEmulator { emulator in
            try await F.withClient(F.application(emulator)) { client in
                #expect(await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: logger).isAccepted)
                emulator.revokeAllTokens()
                #expect(await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: logger).isAccepted)
                let token = try await client.tokenProvider.accessToken(logger: logger)
                #expect(!store.lines.joined().contains(token.value))
                #expect(!"\(token)".contains(token.value))
            }
            let credential = GraphCredential.certificate(certificate: .file(F.pki.serverCertificate), privateKey: .file(F.pki.serverKey))
            try await F.withClient(F.application(emulator, credential: credential)) { client in
                #expect(await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: logger).isAccepted)
            }
            try await F.withClient(F.application(emulator, credential: .clientSecret("wrong-" + F.secret))) { client in
                _ = await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: logger)
            }
        }
        let logs = store.lines.joined(separator: "\n")
        #expect(store.lines.count > 5)
        #expect(logs.contains("sendMail accepted"))
        #expect(logs.contains("graph.request-id"))
        #expect(!logs.contains(F.secret))
        #expect(!logs.contains("emulator."))  // issued token values start with "emulator."
        #expect(!logs.contains("eyJ"))        // no JWT (assertion) in any form
        #expect(!logs.contains("Bearer"))
        #expect(!"\(GraphCredential.clientSecret(F.secret))".contains(F.secret))
    }
}
