import Foundation
import GraphEmulator
import GraphRelayGraph
import GraphRelayTestSupport
import GraphRelayTLS
import Logging
import NIOCore

/// Shared set-up for the loopback tests: an emulator over HTTPS with the test PKI, one tenant,
/// one application (secret and certificate registered), two mailboxes.
enum GraphFixture {
    static let tenant = "contoso.onmicrosoft.com"
    static let clientID = "11111111-2222-3333-4444-555555555555"
    static let secret = "s3cr3t~Value.With_Special&Chars="
    static let mailbox = "scanner@contoso.com"
    static let otherMailbox = "other@contoso.com"
    static var pki: TestPKI { TestPKI.shared }

    static let logger: Logger = {
        var logger = Logger(label: "graph-test")
        logger.logLevel = .critical
        return logger
    }()

    static func emulatorConfiguration() throws -> GraphEmulatorConfiguration {
        var configuration = GraphEmulatorConfiguration()
        configuration.tls = .server(certificateChain: .file(pki.serverCertificate), privateKey: .file(pki.serverKey))
        configuration.applications = [
            .init(tenantID: tenant, clientID: clientID, secrets: [secret], expiredSecrets: ["old-secret"],
                  certificates: [try String(contentsOfFile: pki.serverCertificate, encoding: .utf8)]),
        ]
        configuration.mailboxes = [.init(mailbox), .init(otherMailbox)]
        return configuration
    }

    static func application(_ emulator: GraphEmulator, credential: GraphCredential = .clientSecret(secret),
                            tenant: String = tenant, clientID: String = clientID, cloud: GraphCloud = .global) -> GraphApplication {
        GraphApplication(name: "contoso", cloud: cloud, tenantID: tenant, clientID: clientID, credential: credential,
                         loginEndpoint: emulator.baseURL, graphEndpoint: emulator.baseURL, caFile: pki.caCertificate)
    }

    static func clientConfiguration() -> GraphClientConfiguration {
        var configuration = GraphClientConfiguration()
        configuration.http.tls.useSystemTrustRoots = false
        configuration.http.connectTimeout = .seconds(5)
        configuration.sendMailTimeout = .seconds(20)
        configuration.tokenRequestTimeout = .seconds(10)
        return configuration
    }

    /// Runs `body` with a started emulator and shuts it down afterwards.
    static func withEmulator<T>(_ configure: (inout GraphEmulatorConfiguration) throws -> Void = { _ in },
                                _ body: (GraphEmulator) async throws -> T) async throws -> T {
        var configuration = try emulatorConfiguration()
        try configure(&configuration)
        let emulator = try await GraphEmulator.start(configuration: configuration, logger: logger)
        do {
            let result = try await body(emulator)
            await emulator.shutdown()
            return result
        } catch {
            await emulator.shutdown()
            throw error
        }
    }

    /// Runs `body` with a client for `application` and shuts it down afterwards.
    static func withClient<T>(_ application: GraphApplication, configuration: GraphClientConfiguration = clientConfiguration(),
                              _ body: (GraphClient) async throws -> T) async throws -> T {
        let client = try GraphClient(application: application, configuration: configuration)
        do {
            let result = try await body(client)
            await client.shutdown()
            return result
        } catch {
            await client.shutdown()
            throw error
        }
    }

    /// A plain message; `bodySize` adds that many bytes of varied 8-bit text.
    static func message(from: String = mailbox, to: String? = "alice@example.com", extraHeaders: String = "",
                        subject: String = "Scan", bodySize: Int = 0) -> [UInt8] {
        var text = "From: Scanner <\(from)>\r\n"
        if let to { text += "To: \(to)\r\n" }
        text += extraHeaders
        text += "Subject: \(subject)\r\nMessage-ID: <\(UUID().uuidString)@test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHéllo wörld\r\n"
        var bytes = Array(text.utf8)
        if bodySize > 0 {
            var generator = SplitMix(seed: UInt64(bodySize))
            bytes.reserveCapacity(bytes.count + bodySize)
            for index in 0..<bodySize {
                if index % 78 == 76 { bytes.append(13) } else if index % 78 == 77 { bytes.append(10) } else {
                    bytes.append(UInt8(truncatingIfNeeded: 0x20 + generator.next() % 0xDF))
                }
            }
        }
        return bytes
    }

    struct SplitMix {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
