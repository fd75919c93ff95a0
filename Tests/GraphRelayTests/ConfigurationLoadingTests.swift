import Foundation
import GraphRelayTestSupport
import GraphRelayTLS
import Logging
import Testing
@testable import GraphRelay

@Suite("Configuration loading")
struct ConfigurationLoadingTests {
    @Test("the example from the issues loads with every key and default")
    func fullExample() throws {
        let pki = TestPKI.shared
        let yaml = """
            smtp:
              hostname: relay.example.com
              listeners:
                - { address: "0.0.0.0:25", tls: starttls }      # tls: none | starttls | implicit
                - { address: "0.0.0.0:465", tls: implicit }
                - { address: "[::]:2525", tls: none, allowPlaintextAuth: true, lineEndings: legacy-lf }
              maxMessageSize: 3MB
            tls: { certificate: \(pki.serverCertificate), privateKey: \(pki.serverKey) }
            access:
              networks: ["10.0.0.0/8", "2001:db8::/32"]
              users: [ { name: printer, passwordHash: "\(testPasswordHash)", allowedSenders: ["*@contoso.com"] } ]
            applications:
              - name: contoso
                cloud: global
                tenantId: contoso.onmicrosoft.com
                clientId: 00000000-0000-0000-0000-000000000000
                clientSecret: { env: GRAPH_CLIENT_SECRET }
            routes:
              - { sender: "scanner@contoso.com", application: contoso, mailbox: scanner@contoso.com }
              - { sender: "*@contoso.com", application: contoso, mailbox: sender }
              - { sender: "*", application: contoso, mailbox: noreply@contoso.com, rewriteFrom: true }
            delivery: queue                 # queue | synchronous
            spool:
              directory: /var/spool/graph-relay
              retry: { initial: 5m, maximum: 1h, lifetime: 5d }
            scheduler: { concurrencyPerMailbox: 4, messagesPerMinute: 30 }
            bounces: { enabled: true, adminAddress: null }
            """
        let configuration = try loadConfiguration(yaml, environment: ["GRAPH_CLIENT_SECRET": "the-secret"])
        #expect(configuration.smtp.hostname == "relay.example.com")
        #expect(configuration.smtp.listeners.map(\.address.description) == ["0.0.0.0:25", "0.0.0.0:465", "[::]:2525"])
        #expect(configuration.smtp.listeners.map(\.tls) == [.starttls, .implicit, .none])
        #expect(configuration.smtp.listeners.map(\.allowPlaintextAuth) == [false, false, true])
        #expect(configuration.smtp.listeners.map(\.lineEndings) == [.strict, .strict, .legacyLF])
        #expect(configuration.smtp.maxMessageSize == 3_000_000)
        #expect(configuration.smtp.maxRecipients == 500)
        #expect(configuration.tls?.certificate == .file(pki.serverCertificate))
        #expect(configuration.tls?.minimumVersion == .tls1_2)
        #expect(configuration.access.networks.count == 2)
        #expect(configuration.access.users.first?.name == "printer")
        #expect(configuration.access.users.first?.passwordHash.verify("pw") == true)
        #expect(configuration.access.users.first?.allowedSenders == [.domain("contoso.com")])
        let application = try #require(configuration.applications.first)
        #expect(application.credential == .clientSecret(Secret("the-secret", source: .environment("GRAPH_CLIENT_SECRET"))))
        #expect(application.loginEndpoint.url == "https://login.microsoftonline.com")
        #expect(application.graphEndpoint.url == "https://graph.microsoft.com")
        #expect(application.scope == "https://graph.microsoft.com/.default")
        #expect(application.tokenEndpoint == "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token")
        #expect(application.sendMailURL(mailbox: "scanner@contoso.com") == "https://graph.microsoft.com/v1.0/users/scanner@contoso.com/sendMail")
        #expect(configuration.routes.map(\.mailbox) == [.address("scanner@contoso.com"), .sender, .address("noreply@contoso.com")])
        #expect(configuration.routes.map(\.rewriteFrom) == [false, false, true])
        #expect(configuration.delivery == .queue)
        #expect(configuration.spool.directory == "/var/spool/graph-relay")
        #expect(configuration.spool.retry.initial == .seconds(300))
        #expect(configuration.spool.retry.maximum == .seconds(3600))
        #expect(configuration.spool.retry.lifetime == .seconds(432_000))
        #expect(configuration.scheduler.concurrencyPerMailbox == 4)
        #expect(configuration.scheduler.messagesPerMinute == 30)
        #expect(configuration.bounces.enabled)
        #expect(configuration.bounces.adminAddress == nil)
        // Its 'mailbox: sender' route is open to the trusted networks: check-config says so.
        #expect(configuration.warnings.map(\.path) == ["routes[1].mailbox"])
        // The TLS section becomes a usable server context.
        _ = try TLSContext(configuration: configuration.tls!.serverConfiguration, role: .server)
    }

    @Test("a minimal configuration gets the documented defaults")
    func defaults() throws {
        let configuration = try loadConfiguration(minimalYAML)
        #expect(configuration.smtp.listeners == [RelayConfiguration.Listener(address: ListenAddress(host: "0.0.0.0", port: 25), tls: .none)])
        #expect(configuration.smtp.maxMessageSize == 36_700_160)
        #expect(configuration.graph.sendVia == .auto && configuration.graph.largeMessageFormat == .mime)
        #expect(configuration.smtp.maxHeaderSize == 262_144)
        #expect(configuration.smtp.commandTimeout == .seconds(300))
        #expect(configuration.smtp.minimumDataRate == 500)
        #expect(configuration.smtp.maxConnectionsPerClient == 50)
        #expect(configuration.smtp.maxSessionDuration == .seconds(3600) && configuration.smtp.maxDataDuration == .seconds(600))
        #expect(configuration.smtp.maxJunkCommands == 100)
        #expect(configuration.tls == nil)
        #expect(configuration.delivery == .queue)
        #expect(configuration.spool.retry.multiplier == 2)
        #expect(configuration.scheduler.concurrencyPerMailbox == 4)
        #expect(configuration.bounces.enabled)
        #expect(configuration.graph.proxy == nil)
        #expect(configuration.graph.connectTimeout == .seconds(10))
        #expect(configuration.logging.level == .info)
        #expect(!configuration.smtp.hostname.isEmpty)
        #expect(configuration.applications.first?.cloud == .global)
    }

    @Test("session caps: smtp.maxSessionDuration, smtp.maxDataDuration and smtp.maxJunkCommands reach the listener's limits")
    func sessionCaps() throws {
        let configuration = try loadConfiguration(minimalYAML + "\nsmtp: { maxSessionDuration: 30m, maxDataDuration: 2m, maxJunkCommands: 20 }\n")
        let limits = configuration.smtpServerConfiguration(tls: nil).limits
        #expect(limits.maximumSessionDuration == .minutes(30) && limits.maximumDataDuration == .minutes(2))
        #expect(limits.maximumJunkCommands == 20)
        #expect(configurationIssues(minimalYAML + "\nsmtp: { maxSessionDuration: 1s, maxJunkCommands: 0 }\n").count == 2)
    }

    @Test("{ file: $CREDENTIALS_DIRECTORY/… }: systemd's LoadCredential directory; unset, the error names the path as written")
    func credentialsDirectory() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("credentials-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "from-systemd\n".write(toFile: directory + "/client-secret", atomically: true, encoding: .utf8)
        for form in ["$CREDENTIALS_DIRECTORY/client-secret", "${CREDENTIALS_DIRECTORY}/client-secret"] {
            let yaml = minimalYAML.replacingOccurrences(of: "clientSecret: s3cr3t-value", with: "clientSecret: { file: \"\(form)\" }")
            let configuration = try loadConfiguration(yaml, environment: ["CREDENTIALS_DIRECTORY": directory])
            guard case .clientSecret(let secret)? = configuration.applications.first?.credential else {
                Issue.record("no client secret")
                continue
            }
            #expect(secret.revealedValue == "from-systemd")
            #expect(configurationIssues(yaml).first?.contains("cannot read '\(form)': no such file") == true, "\(configurationIssues(yaml))")
        }
    }

    @Test("emulator: is not a configuration key; the product binary links no emulator")
    func noEmulator() throws {
        let issues = configurationIssues(minimalYAML + "\nemulator: { outbox: outbox }\n")
        #expect(issues.count == 1 && issues.first?.contains("run the graph-emulator executable") == true, "\(issues)")
        let binary = try #require(FileManager.default.contents(atPath: QueueServerProcess.binary))
        #expect(binary.range(of: Data("GraphEmulator".utf8)) == nil, "graph-relay contains the GraphEmulator module")
    }

    @Test("the default listener uses STARTTLS when a tls section exists")
    func defaultListenerWithTLS() throws {
        let pki = TestPKI.shared
        let configuration = try loadConfiguration(minimalYAML + "\ntls: { certificate: \(pki.serverCertificate), privateKey: \(pki.serverKey) }\n")
        #expect(configuration.smtp.listeners.map(\.tls) == [.starttls])
        let explicit = try loadConfiguration(minimalYAML + """

            tls: { certificate: \(pki.serverCertificate), privateKey: \(pki.serverKey) }
            smtp: { listeners: [ { address: "127.0.0.1:2525" } ] }
            """)
        #expect(explicit.smtp.listeners.map(\.tls) == [.starttls])
    }

    @Test("the wrong application name is reported with its key path and the known names")
    func unknownApplication() {
        let yaml = minimalYAML + """

              - { sender: "a@contoso.com", application: contoso, mailbox: a@contoso.com }
              - { sender: "b@contoso.com", application: contsoo, mailbox: b@contoso.com }
            """
        let yamlWithRoutesFirst = yaml.replacingOccurrences(of: "  - { sender: \"*\", application: contoso, mailbox: noreply@contoso.com }\n", with: "")
            + "\n  - { sender: \"*\", application: contoso, mailbox: noreply@contoso.com }\n"
        #expect(configurationIssues(yamlWithRoutesFirst) == ["routes[1].application: unknown application 'contsoo' (known: contoso)"])
        do {
            _ = try loadConfiguration(yamlWithRoutesFirst)
        } catch {
            #expect(error.issues.first?.line == 10)
            #expect(error.description.contains("routes[1].application: unknown application 'contsoo' (known: contoso)  [line 10]"))
            #expect(error.description.hasPrefix("invalid configuration test.yaml: 1 problem"))
        }
    }

    @Test("all problems are collected, not just the first, in file order")
    func collectsAll() {
        let yaml = """
            smtp:
              maxMessageSize: 3 parsecs
              listeners:
                - { address: "0.0.0.0", tls: starttls }
            access:
              networks: ["10.0.0.1/8"]
            applications:
              - name: contoso
                tenantId: contoso.onmicrosoft.com
                clientId: not-a-guid
                clientSecret: x
            routes:
              - { sender: "*", application: fabrikam, mailbox: sender }
            scheduler: { concurrencyPerMailbox: 8 }
            """
        let issues = configurationIssues(yaml)
        #expect(issues == [
            "smtp.maxMessageSize: '3 parsecs' is not a size; use bytes or a unit: 500KB, 3MB, 35MB, 1GiB (KB/MB/GB are 1000-based, KiB/MiB/GiB 1024-based)",
            "smtp.listeners[0].address: '0.0.0.0' has no port; expected host:port like 0.0.0.0:25",
            "access.networks[0]: '10.0.0.1/8' has host bits set after the prefix; did you mean '10.0.0.0/8'?",
            "applications[0].clientId: 'not-a-guid' is not a GUID (the Application (client) ID of the app registration)",
            "routes[0].application: unknown application 'fabrikam' (known: contoso)",
            "scheduler.concurrencyPerMailbox: must be between 1 and 4, found 8",
        ])
    }

    @Test("unknown keys are errors naming the key, with a suggestion for typos")
    func unknownKeys() {
        let yaml = minimalYAML + """

            smtp:
              maxMessageSzie: 3MB
              listners: []
            rotues: []
            spool: { directory: /tmp/x, retries: { initial: 5m } }
            """
        #expect(configurationIssues(yaml) == [
            "smtp.maxMessageSzie: unknown key 'maxMessageSzie' (did you mean 'maxMessageSize'?)",
            "smtp.listners: unknown key 'listners' (did you mean 'listeners'?)",
            "rotues: unknown key 'rotues' (did you mean 'routes'?)",
            "spool.retries: unknown key 'retries' (did you mean 'retry'?)",
        ])
        let caseTypo = configurationIssues(minimalYAML + "\nSMTP: {}\n")
        #expect(caseTypo == ["SMTP: unknown key 'SMTP' (did you mean 'smtp'?)"])
        let nonsense = configurationIssues(minimalYAML + "\nbounces: { frobnicate: 1 }\n")
        #expect(nonsense == ["bounces.frobnicate: unknown key 'frobnicate' (known keys: adminAddress, enabled)"])
    }

    @Test("YAML syntax errors, duplicate keys, empty and non-mapping documents")
    func yamlProblems() {
        let syntax = configurationIssues("smtp:\n  hostname: [unclosed\n")
        #expect(syntax.count == 1 && syntax[0].hasPrefix("YAML syntax error"))
        let duplicate = configurationIssues(minimalYAML + "\ndelivery: queue\ndelivery: synchronous\n")
        #expect(duplicate == ["duplicate key 'delivery' in the same mapping"])
        #expect(configurationIssues("") == ["the configuration is empty"])
        #expect(configurationIssues("# just a comment\n") == ["the configuration is empty"])
        #expect(configurationIssues("- a\n- b\n") == ["expected a mapping (key: value pairs), found a list"])
        #expect(configurationIssues(minimalYAML + "\nsmtp: 5\n") == ["smtp: expected a mapping (key: value pairs), found a value"])
        #expect(configurationIssues(minimalYAML + "\nbase: &b { a: 1 }\n").first?.contains("unknown key 'base'") == true)
    }

    @Test("load from a file: relative paths resolve against the file's directory; unreadable files are reported")
    func fromFile() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pki = TestPKI.shared
        try FileManager.default.copyItem(atPath: pki.serverCertificate, toPath: directory + "/cert.pem")
        try FileManager.default.copyItem(atPath: pki.serverKey, toPath: directory + "/key.pem")
        try write("file-secret\n", to: directory + "/secret.txt")
        let yaml = minimalYAML.replacingOccurrences(of: "clientSecret: s3cr3t-value", with: "clientSecret: { file: secret.txt }") + """

            tls: { certificate: cert.pem, privateKey: key.pem }
            spool: { directory: spool }
            """
        try write(yaml, to: directory + "/graph-relay.yaml")
        let configuration = try RelayConfiguration.load(contentsOfFile: directory + "/graph-relay.yaml", environment: [:])
        #expect(configuration.tls?.certificate == .file(directory + "/cert.pem"))
        #expect(configuration.spool.directory == directory + "/spool")
        #expect(configuration.applications.first?.credential == .clientSecret(Secret("file-secret", source: .file(directory + "/secret.txt"))))

        #expect(throws: ConfigurationError(file: directory + "/missing.yaml", issues: [
            ConfigurationIssue(path: "", message: "cannot read the configuration file: no such file"),
        ])) {
            try RelayConfiguration.load(contentsOfFile: directory + "/missing.yaml", environment: [:])
        }
    }

    @Test("logging level and graph client settings")
    func graphAndLogging() throws {
        let configuration = try loadConfiguration(minimalYAML + """

            logging: { level: debug }
            graph: { proxy: "http://proxy.example.com:3128", noProxy: [".internal", "localhost"], connectTimeout: 5s, requestTimeout: 2m, maxIdleConnectionsPerHost: 8 }
            """)
        #expect(configuration.logging.level == Logger.Level.debug)
        #expect(configuration.graph.proxy?.endpoint.url == "http://proxy.example.com:3128")
        #expect(configuration.graph.proxy?.source == "graph.proxy")
        #expect(configuration.graph.noProxy == [".internal", "localhost"])
        #expect(configuration.graph.bypassesProxy(host: "graph.internal"))
        #expect(configuration.graph.bypassesProxy(host: "LOCALHOST"))
        #expect(!configuration.graph.bypassesProxy(host: "graph.microsoft.com"))
        #expect(configuration.graph.connectTimeout == .seconds(5))
        #expect(configuration.graph.requestTimeout == .seconds(120))
        #expect(configuration.graph.maxIdleConnectionsPerHost == 8)
    }

    @Test("graph.maxConnectionsPerHost, the old name of maxIdleConnectionsPerHost, is read and reported as deprecated")
    func deprecatedIdleConnectionKey() throws {
        let old = try loadConfiguration(minimalYAML + "\ngraph: { maxConnectionsPerHost: 4 }\n")
        #expect(old.graph.maxIdleConnectionsPerHost == 4)
        #expect(old.warnings.map(\.path) == ["graph.maxConnectionsPerHost"])
        #expect(old.warnings.first?.message.hasPrefix("deprecated: rename it to graph.maxIdleConnectionsPerHost") == true)
        #expect(configurationIssues(minimalYAML + "\ngraph: { maxConnectionsPerHost: 4, maxIdleConnectionsPerHost: 8 }\n") == [
            "graph.maxConnectionsPerHost: give only graph.maxIdleConnectionsPerHost (maxConnectionsPerHost is its deprecated name)",
        ])
    }

    @Test("graph.sendVia and graph.largeMessageFormat; with sendMail the message size defaults to, and is limited to, one request")
    func sendPath() throws {
        let drafts = try loadConfiguration(minimalYAML + "\ngraph: { sendVia: drafts, largeMessageFormat: json }\n")
        #expect(drafts.graph.sendVia == .drafts && drafts.graph.largeMessageFormat == .json)
        #expect(drafts.smtp.maxMessageSize == 36_700_160)

        let sendMail = try loadConfiguration(minimalYAML + "\ngraph: { sendVia: SendMail }\n")
        #expect(sendMail.graph.sendVia == .sendMail && sendMail.smtp.maxMessageSize == 3_000_000)
        #expect(try loadConfiguration(minimalYAML + "\nsmtp: { maxMessageSize: 2MB }\ngraph: { sendVia: sendMail }\n").smtp.maxMessageSize == 2_000_000)

        #expect(configurationIssues(minimalYAML + "\nsmtp: { maxMessageSize: 20MB }\ngraph: { sendVia: sendMail }\n") == [
            "smtp.maxMessageSize: 20000000 bytes cannot be sent with graph.sendVia: sendMail, whose one request carries at most 3000000 bytes of "
                + "message (4 MB after base64, with room for the fields the relay adds); lower it to 3MB or use graph.sendVia: auto "
                + "(drafts and upload sessions for larger messages)",
        ])
        #expect(configurationIssues(minimalYAML + "\ngraph: { sendVia: upload }\n") == ["graph.sendVia: 'upload' is not one of: auto, drafts, sendMail"])
        #expect(configurationIssues(minimalYAML + "\ngraph: { largeMessageFormat: eml }\n").first?.hasPrefix("graph.largeMessageFormat:") == true)
        #expect(configurationIssues(minimalYAML + "\nsmtp: { maxMessageSize: 151MiB }\n").first?.hasPrefix("smtp.maxMessageSize:") == true)
        #expect(try loadConfiguration(minimalYAML + "\nsmtp: { maxMessageSize: 150MiB }\n").smtp.maxMessageSize == 157_286_400)
        #expect(drafts.scheduler.uploadLimit == 157_286_400)
        #expect(try loadConfiguration(minimalYAML + "\nscheduler: { uploadLimit: 0 }\n").scheduler.uploadLimit == 0)
        #expect(configurationIssues(minimalYAML + "\nscheduler: { uploadLimit: lots }\n").first?.hasPrefix("scheduler.uploadLimit:") == true)
    }

    @Test("proxy from https_proxy/no_proxy unless graph.proxy says otherwise; credentials never echoed")
    func proxyEnvironment() throws {
        let environment = ["https_proxy": "http://user:p%40ss@proxy.corp:8080", "no_proxy": "localhost, .corp"]
        let configuration = try loadConfiguration(minimalYAML, environment: environment)
        let proxy = try #require(configuration.graph.proxy)
        #expect(proxy.endpoint.host == "proxy.corp" && proxy.endpoint.port == 8080)
        #expect(proxy.username == "user")
        #expect(proxy.password?.revealedValue == "p@ss")
        #expect(proxy.source == "https_proxy")
        #expect(configuration.graph.noProxy == ["localhost", ".corp"])
        #expect(try loadConfiguration(minimalYAML + "\ngraph: { proxy: none }\n", environment: environment).graph.proxy == nil)
        #expect(try loadConfiguration(minimalYAML, environment: ["HTTPS_PROXY": "proxy.corp:3128"]).graph.proxy?.endpoint.url == "http://proxy.corp:3128")
        let bad = configurationIssues(minimalYAML, environment: ["https_proxy": "ftp://user:hunter2@proxy.corp"])
        #expect(bad.count == 1)
        #expect(bad.first?.hasPrefix("graph.proxy: environment variable https_proxy:") == true)
        #expect(bad.first?.contains("hunter2") == false)
    }
}

@Suite("Configuration documentation")
struct ConfigurationDocumentationTests {
    @Test("the complete example in docs/configuration.md loads")
    func documentedExample() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/configuration.md")
        let markdown = try String(contentsOf: docs, encoding: .utf8)
        let section = try #require(markdown.components(separatedBy: "## Complete example").dropFirst().first)
        let yaml = try #require(section.components(separatedBy: "```yaml\n").dropFirst().first?.components(separatedBy: "```").first)
        let pki = TestPKI.shared
        let runnable = yaml
            .replacingOccurrences(of: "\"$scrypt$ln=15,r=8,p=1$…$…\"", with: "\"\(testPasswordHash)\"")
            .replacingOccurrences(of: "/etc/graph-relay/cert.pem", with: pki.serverCertificate)
            .replacingOccurrences(of: "/etc/graph-relay/key.pem", with: pki.serverKey)
        let configuration = try loadConfiguration(runnable, environment: ["GRAPH_CLIENT_SECRET": "x"])
        #expect(configuration.routes.count == 3)
        #expect(configuration.smtp.listeners.count == 3)
        #expect(configuration.warnings.isEmpty)
    }
}
