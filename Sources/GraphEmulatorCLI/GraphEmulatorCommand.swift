import ArgumentParser
import Foundation
import GraphEmulator
import GraphRelayTLS
import Logging
import NIOPosix

/// `graph-emulator`: runs the Microsoft Graph stand-in on its own, for the demo and manual tests.
@main
struct GraphEmulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graph-emulator",
        abstract: "A Microsoft Graph stand-in: Entra ID token endpoint and sendMail (MIME), over HTTPS.",
        discussion: """
        Point graph-relay's loginEndpoint and graphEndpoint at the printed URL, and trust the
        emulator's certificate (caFile). Accepted messages are written to --outbox as .eml files.

        Example:
          graph-emulator --listen 127.0.0.1:8443 --certificate cert.pem --private-key key.pem \\
            --outbox ./outbox --mailbox scanner@contoso.com \\
            --tenant contoso.onmicrosoft.com --client-id 11111111-2222-3333-4444-555555555555 \\
            --client-secret demo-secret
        """
    )

    @Option(help: "Address and port to listen on (port 0 picks one).")
    var listen: String = "127.0.0.1:8443"

    @Option(help: "Server certificate chain (PEM).")
    var certificate: String?

    @Option(name: .customLong("private-key"), help: "Server private key (PEM).")
    var privateKey: String?

    @Option(name: .customLong("generate-certificate"),
            help: "Create a self-signed certificate for localhost/127.0.0.1/::1 in this folder (emulator.pem, emulator.key) and serve it; clients trust emulator.pem.")
    var generateCertificate: String?

    @Flag(name: .customLong("plain-http"), help: "Serve plain HTTP instead of HTTPS (no certificate needed).")
    var plainHTTP = false

    @Option(help: "Folder for accepted messages: <outbox>/<mailbox>/<time>-<id>.eml.")
    var outbox: String?

    @Option(help: "A mailbox that exists (repeatable).")
    var mailbox: [String] = []

    @Option(help: "Tenant id or domain of the registered application.")
    var tenant: String = "contoso.onmicrosoft.com"

    @Option(name: .customLong("client-id"), help: "Client id of the registered application.")
    var clientID: String = "00000000-0000-0000-0000-000000000000"

    @Option(name: .customLong("client-secret"), help: "A valid client secret (repeatable).")
    var clientSecret: [String] = []

    @Option(name: .customLong("client-certificate"), help: "A certificate (PEM file) accepted for client assertions (repeatable).")
    var clientCertificate: [String] = []

    @Option(name: .customLong("federated-token"), help: "A workload identity token accepted as client assertion (repeatable).")
    var federatedToken: [String] = []

    @Option(name: .customLong("metadata-listen"),
            help: "Also serve the Azure instance metadata service's token endpoint (plain HTTP) on HOST:PORT, for --managed-identity.")
    var metadataListen: String?

    @Flag(name: .customLong("managed-identity"),
          help: "The registered application is the emulated VM's system-assigned managed identity (tokens from --metadata-listen).")
    var managedIdentity = false

    @Option(name: .customLong("token-lifetime"), help: "expires_in of issued tokens, in seconds.")
    var tokenLifetime: Int = 3599

    @Option(help: "The scope clients must request.")
    var scope: String = "https://graph.microsoft.com/.default"

    @Flag(name: .customLong("allow-any-from"), help: "Do not check From: against the mailbox (no ErrorSendAsDenied).")
    var allowAnyFrom = false

    @Flag(name: .customLong("refuse-mime-draft-attachments"),
          help: "Answer 400 to attachments on drafts made from MIME (what the relay's graph.largeMessageFormat fallback handles).")
    var refuseMIMEDraftAttachments = false

    @Flag(name: .customLong("without-mail-readwrite"), help: "The application has Mail.Send only: drafts get 403 ErrorAccessDenied.")
    var withoutMailReadWrite = false

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func validate() throws {
        if !plainHTTP && generateCertificate == nil && (certificate == nil || privateKey == nil) {
            throw ValidationError("HTTPS needs --certificate and --private-key, or --generate-certificate DIR (or use --plain-http)")
        }
        if generateCertificate != nil && (certificate != nil || privateKey != nil) {
            throw ValidationError("--generate-certificate and --certificate/--private-key exclude each other")
        }
        if mailbox.isEmpty {
            throw ValidationError("give at least one --mailbox")
        }
        if clientSecret.isEmpty && clientCertificate.isEmpty && federatedToken.isEmpty && !managedIdentity {
            throw ValidationError("register a credential: --client-secret, --client-certificate, --federated-token or --managed-identity")
        }
        if managedIdentity != (metadataListen != nil) {
            throw ValidationError("--managed-identity and --metadata-listen go together")
        }
        if let metadataListen {
            let (host, _) = try Self.parse(address: metadataListen, option: "--metadata-listen")
            guard host == (try parseListen()).0 else {
                throw ValidationError("--metadata-listen must use the same host as --listen")
            }
        }
        if Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        _ = try parseListen()
    }

    func parseListen() throws -> (String, Int) {
        try Self.parse(address: listen, option: "--listen")
    }

    static func parse(address: String, option: String) throws -> (String, Int) {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]), (0...65535).contains(port) else {
            throw ValidationError("\(option) must be HOST:PORT, e.g. 127.0.0.1:8443")
        }
        var host = String(address[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, port)
    }

    func run() async throws {
        var logger = Logger(label: "graph-emulator")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let (host, port) = try parseListen()
        var configuration = GraphEmulatorConfiguration()
        configuration.host = host
        configuration.port = port
        var generatedCertificate: String?
        if !plainHTTP, let directory = generateCertificate {
            let paths = try SelfSignedCertificate.graphEmulator().write(to: directory)
            configuration.tls = .server(certificateChain: .file(paths.certificate), privateKey: .file(paths.privateKey))
            generatedCertificate = paths.certificate
        } else if !plainHTTP, let certificate, let privateKey {
            configuration.tls = .server(certificateChain: .file(certificate), privateKey: .file(privateKey))
        }
        configuration.outboxDirectory = outbox
        configuration.mailboxes = mailbox.map { GraphEmulatorConfiguration.Mailbox($0) }
        configuration.tokenLifetime = tokenLifetime
        configuration.expectedScope = scope
        configuration.enforceSendAs = !allowAnyFrom
        configuration.retainedMessages = 1000
        configuration.retainsAttachmentContent = false
        configuration.refusesAttachmentsOnMIMEDrafts = refuseMIMEDraftAttachments
        let certificates = try clientCertificate.map { path in
            do {
                return try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw ValidationError("cannot read --client-certificate \(path): \(error.localizedDescription)")
            }
        }
        configuration.applications = [
            GraphEmulatorConfiguration.Application(tenantID: tenant, clientID: clientID, secrets: clientSecret,
                                                   certificates: certificates, federatedTokens: federatedToken),
        ]
        if withoutMailReadWrite { configuration.applications[0].permissions = ["Mail.Send"] }
        if managedIdentity, let metadataListen {
            configuration.applications[0].managedIdentity = .systemAssigned
            configuration.metadataPort = try Self.parse(address: metadataListen, option: "--metadata-listen").1
        }
        let emulator = try await GraphEmulator.start(configuration: configuration, logger: logger)
        let banner = """
        graph-emulator listening on \(emulator.baseURL)
          loginEndpoint/graphEndpoint: \(emulator.baseURL)   tenant: \(tenant)   client id: \(clientID)
          \(emulator.metadataTokenURL.map { "managedIdentity.endpoint: \($0)\n  " } ?? "")mailboxes: \(mailbox.joined(separator: ", "))\(outbox.map { "   outbox: \($0)" } ?? "")\(generatedCertificate.map { "\n  trust (caFile): \($0)" } ?? "")

        """
        try? FileHandle.standardOutput.write(contentsOf: Data(banner.utf8))
        while true {
            try await Task.sleep(for: .seconds(3600))
        }
    }
}

