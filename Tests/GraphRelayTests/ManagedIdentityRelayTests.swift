import Foundation
import GraphEmulator
import GraphRelayTestSupport
import Testing

/// The real binary on an emulated Azure VM: `managedIdentity` in the configuration, tokens from
/// the emulator's instance metadata listener (plain HTTP), messages from swaks delivered through
/// Graph as the identity; check-config and send-test as an operator would run them.
@Suite("Managed identity: the relay on an emulated Azure VM", .timeLimit(.minutes(2)))
struct ManagedIdentityRelayTests {
    static let identityClientID = "aaaaaaaa-1111-4111-8111-111111111111"

    static func withVM<T>(identity: Bool, _ body: (GraphEmulator, _ directory: String, _ configFile: String) async throws -> T) async throws -> T {
        let directory = NSTemporaryDirectory() + "graph-relay-mi-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var configuration = GraphEmulatorConfiguration()
        configuration.tls = .server(certificateChain: .file(TestPKI.shared.serverCertificate), privateKey: .file(TestPKI.shared.serverKey))
        configuration.metadataPort = 0
        configuration.mailboxes = QueueTestRoutes.emulatorMailboxes
        if identity {
            configuration.applications = [.init(tenantID: "contoso.onmicrosoft.com", clientID: identityClientID, managedIdentity: .systemAssigned)]
        }
        let emulator = try await GraphEmulator.start(configuration: configuration)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let endpoint = try #require(emulator.metadataTokenURL)
            let yaml = """
                smtp:
                  hostname: relay.vm.test
                  listeners:
                    - { address: "127.0.0.1:0" }
                access:
                  networks: ["127.0.0.0/8"]
                applications:
                  - name: contoso
                    managedIdentity: { endpoint: "\(endpoint)" }
                    graphEndpoint: \(emulator.baseURL)
                    caFile: \(TestPKI.shared.caCertificate)
                \(QueueTestRoutes.yaml)
                delivery: queue
                spool:
                  directory: \(directory)/spool
                  retry: { initial: 200ms, maximum: 1s, lifetime: 1h }
                admin: \(QueueRelayFixture.defaultAdmin)
                """
            let configFile = directory + "/relay.yaml"
            try yaml.write(toFile: configFile, atomically: true, encoding: .utf8)
            let result = try await body(emulator, directory, configFile)
            await emulator.shutdown()
            return result
        } catch {
            await emulator.shutdown()
            throw error
        }
    }

    static func swaks(port: Int, subject: String) async throws -> ProcessResult {
        try await ProcessRunner.run("swaks", [
            "--server", "127.0.0.1", "--port", "\(port)", "--ehlo", "printer.vm.test", "--timeout", "30",
            "--from", "scanner@printer.test", "--to", "alice@example.com", "--header", "Subject: \(subject)",
            "--header", "From: scanner@printer.test",
        ], timeout: 45)
    }

    @Test("serve with managedIdentity: swaks' messages are sent as the VM's identity, with one token")
    func serve() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: QueueServerProcess.binary), "graph-relay not built: \(QueueServerProcess.binary)")
        try await Self.withVM(identity: true) { emulator, _, configFile in
            let check = try await QueueServerProcess.run(["check-config", "--config", configFile])
            #expect(check.status == 0, "\(check.stdout)\(check.stderr)")

            let sendTest = try await QueueServerProcess.run(["send-test", "--config", configFile, "--from", "scanner@printer.test",
                                                             "--to", "alice@example.com", "--subject", "mi-send-test"])
            #expect(sendTest.status == 0, "\(sendTest.stdout)\(sendTest.stderr)")
            #expect(sendTest.stdout.contains("token: obtained for 'contoso' (managed identity (system-assigned), global)"), "\(sendTest.stdout)")

            let server = try await QueueServerProcess.start(configFile: configFile)
            defer { server.kill() }
            for index in 1...3 {
                let sent = try await Self.swaks(port: server.port, subject: "mi-\(index)")
                #expect(sent.status == 0, "\(sent.stdout)\(sent.stderr)")
            }
            let deadline = ContinuousClock.now + .seconds(20)
            while emulator.acceptedMessages.count < 4, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            let accepted = emulator.acceptedMessages
            #expect(accepted.count == 4, "\(server.output.suffix(2000))")
            #expect(accepted.allSatisfy { $0.clientID == Self.identityClientID })
            #expect(accepted.allSatisfy { $0.mailbox == QueueTestRoutes.printerMailbox })
            // send-test took one token; the relay one more for all three messages.
            #expect(emulator.tokenRequestCount == 2)
            #expect(server.output.contains("access token acquired"), "\(server.output.suffix(2000))")
        }
    }

    @Test("a VM without the identity: the message waits in the queue and the log says what to fix")
    func identityMissing() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: QueueServerProcess.binary), "graph-relay not built: \(QueueServerProcess.binary)")
        try await Self.withVM(identity: false) { emulator, directory, configFile in
            let server = try await QueueServerProcess.start(configFile: configFile)
            defer { server.kill() }
            let sent = try await Self.swaks(port: server.port, subject: "mi-missing")
            #expect(sent.status == 0, "accepted into the queue: \(sent.stdout)\(sent.stderr)")
            let logged = await server.process.waitForOutput(containing: "managed identity not found")
            #expect(logged != nil, "\(server.output.suffix(2000))")
            #expect(server.output.contains("turn on the VM's system-assigned identity"), "\(server.output.suffix(2000))")
            #expect(emulator.sendMailRequestCount == 0)
            #expect(!QueueSpoolFiles.records(directory + "/spool").isEmpty, "the message stays queued")
        }
    }
}
