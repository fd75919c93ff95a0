import Foundation
import GraphEmulator
import GraphRelayTestSupport
import NIOPosix
import Testing

/// The real binary as an unprivileged user, as the Debian package, the container and Kubernetes
/// run it: a device's message is accepted over SMTP and delivered over HTTPS. (A socket option
/// that only root may set once made every accepted connection close at once, and every
/// connection to Entra ID and Graph fail with "Permission denied", while all tests ran as root.)
/// Run as root (CI), the test drops to `nobody` with `setpriv`; otherwise it runs as the user.
@Suite("serve as an unprivileged user", .timeLimit(.minutes(2)))
struct UnprivilegedServeTests {
    static let nobody: uid_t = 65534

    @Test("as nobody: swaks' message gets 250 and reaches Graph")
    func acceptsAndDelivers() async throws {
        let built = QueueServerProcess.binary
        try #require(FileManager.default.isExecutableFile(atPath: built), "graph-relay not built: \(built)")
        let asRoot = geteuid() == 0
        // Everything the server needs where `nobody` can read it: the binary, the CA, the
        // configuration; the spool its own.
        let directory = NSTemporaryDirectory() + "graph-relay-unprivileged-\(UUID().uuidString)"
        let files = FileManager.default
        try files.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        defer { try? files.removeItem(atPath: directory) }
        let binary = directory + "/graph-relay"
        try files.copyItem(atPath: built, toPath: binary)
        try files.setAttributes([.posixPermissions: 0o755], ofItemAtPath: binary)
        let caFile = directory + "/ca.pem"
        try files.copyItem(atPath: TestPKI.shared.caCertificate, toPath: caFile)
        try files.setAttributes([.posixPermissions: 0o644], ofItemAtPath: caFile)
        let spool = directory + "/spool"
        try files.createDirectory(atPath: spool, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        if asRoot {
            #expect(chown(spool, Self.nobody, gid_t(Self.nobody)) == 0)
        }

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var configuration = GraphEmulatorConfiguration()
        configuration.tls = .server(certificateChain: .file(TestPKI.shared.serverCertificate), privateKey: .file(TestPKI.shared.serverKey))
        configuration.applications = [.init(tenantID: QueueTestApp.tenant, clientID: QueueTestApp.clientID, secrets: [QueueTestApp.secret])]
        configuration.mailboxes = QueueTestRoutes.emulatorMailboxes
        let emulator = try await GraphEmulator.start(configuration: configuration, eventLoopGroup: group)
        do {
            let configFile = directory + "/relay.yaml"
            try QueueRelayFixture.relayYAML(graphURL: emulator.baseURL, spoolDirectory: spool)
                .replacingOccurrences(of: TestPKI.shared.caCertificate, with: caFile)
                .write(toFile: configFile, atomically: true, encoding: .utf8)
            try files.setAttributes([.posixPermissions: 0o644], ofItemAtPath: configFile)

            let process = asRoot
                ? try BackgroundProcess("setpriv", ["--reuid=\(Self.nobody)", "--regid=\(Self.nobody)", "--clear-groups",
                                                    binary, "serve", "--config", configFile])
                : try BackgroundProcess(binary, ["serve", "--config", configFile])
            defer { process.stop() }
            var port: Int?
            let listening = await queueWait(timeout: .seconds(30)) {
                port = QueueServerProcess.listeningPort(in: process.text)
                return port != nil || !process.isRunning
            }
            let smtpPort = try #require(listening ? port : nil, "not listening:\n\(process.text)")
            // The server really is unprivileged (setpriv runs it in place: the same process).
            let status = (try? String(contentsOfFile: "/proc/\(process.pid)/status", encoding: .utf8)) ?? ""
            let uidLine = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }.map(String.init) ?? ""
            #expect(!uidLine.isEmpty && !uidLine.split(separator: "\t").dropFirst().contains("0"), "\(uidLine)")

            let sent = try await ProcessRunner.run("swaks", [
                "--server", "127.0.0.1", "--port", "\(smtpPort)", "--ehlo", "printer.test", "--timeout", "30",
                "--from", "scanner@printer.test", "--to", "alice@example.com", "--header", "Subject: unprivileged",
            ], timeout: 45)
            #expect(sent.status == 0, "\(sent.stdout)\(sent.stderr)\n\(process.text.suffix(2000))")
            #expect((sent.stdout + sent.stderr).contains("250 2.0.0 Ok: queued as"), "\(sent.stdout)\(sent.stderr)")
            let delivered = await queueWait(timeout: .seconds(30)) { emulator.acceptedMessages.count == 1 }
            #expect(delivered, "not delivered:\n\(process.text.suffix(3000))")
            #expect(emulator.acceptedMessages.first?.mailbox == QueueTestRoutes.printerMailbox)
            #expect(!process.text.contains("Permission denied"), "\(process.text.suffix(3000))")
        } catch {
            await emulator.shutdown()
            try? await group.shutdownGracefully()
            throw error
        }
        await emulator.shutdown()
        try? await group.shutdownGracefully()
    }
}
