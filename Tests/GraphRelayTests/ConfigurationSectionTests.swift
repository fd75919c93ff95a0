import Foundation
import GraphRelayGraph
import GraphRelayTestSupport
import GraphRelayTLS
import Testing
@testable import GraphRelay

@Suite("Configuration sections")
struct ConfigurationSectionTests {
    /// `minimalYAML` with the application's credential lines replaced.
    func withApplication(_ body: String) -> String {
        """
        access: { networks: ["10.0.0.0/8"] }
        applications:
          - name: contoso
        \(body.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n"))
        routes:
          - { sender: "*", application: contoso, mailbox: noreply@contoso.com }
        """
    }

    let ids = "tenantId: contoso.onmicrosoft.com\nclientId: 00000000-0000-0000-0000-000000000000"

    // MARK: Secrets

    @Test("secrets: literal, env, file; missing variable and unreadable file are clear errors")
    func secrets() throws {
        let literal = try loadConfiguration(withApplication(ids + "\nclientSecret: abc"))
        #expect(literal.applications[0].credential == .clientSecret(Secret("abc")))

        let fromEnvironment = try loadConfiguration(withApplication(ids + "\nclientSecret: { env: SECRET }"), environment: ["SECRET": "xyz"])
        #expect(fromEnvironment.applications[0].credential == .clientSecret(Secret("xyz", source: .environment("SECRET"))))

        #expect(configurationIssues(withApplication(ids + "\nclientSecret: { env: SECRET }"))
            == ["applications[0].clientSecret: environment variable SECRET is not set"])
        #expect(configurationIssues(withApplication(ids + "\nclientSecret: { env: SECRET }"), environment: ["SECRET": ""])
            == ["applications[0].clientSecret: environment variable SECRET is empty"])
        #expect(configurationIssues(withApplication(ids + "\nclientSecret: { file: /nonexistent/secret }"))
            == ["applications[0].clientSecret: cannot read '/nonexistent/secret': no such file"])
        #expect(configurationIssues(withApplication(ids + "\nclientSecret: { env: A, file: B }"))
            == ["applications[0].clientSecret: expected a literal string, { env: NAME } or { file: PATH }"])
        #expect(configurationIssues(withApplication(ids + "\nclientSecret: { vault: x }")).first
            == "applications[0].clientSecret.vault: unknown key 'vault' (known keys: env, file)")
        #expect(configurationIssues(withApplication(ids + "\nclientSecret: [a]"))
            == ["applications[0].clientSecret: expected a literal string, { env: NAME } or { file: PATH }, found a list"])

        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try write("from-file\r\n", to: directory + "/s")
        let fromFile = try loadConfiguration(withApplication(ids + "\nclientSecret: { file: s }"), baseDirectory: directory)
        #expect(fromFile.applications[0].credential == .clientSecret(Secret("from-file", source: .file(directory + "/s"))))
        try write("\n", to: directory + "/empty")
        #expect(configurationIssues(withApplication(ids + "\nclientSecret: { file: empty }"), baseDirectory: directory)
            == ["applications[0].clientSecret: file '\(directory)/empty' is empty"])
    }

    @Test("files holding secrets: readable by others is a warning (an error for a private key); the owner and graph-relay's group are fine")
    func filePermissions() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func mode(_ path: String, _ mode: Int) throws {
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        }
        try write("from-file", to: directory + "/s")
        try mode(directory + "/s", 0o644)
        let exposed = try loadConfiguration(withApplication(ids + "\nclientSecret: { file: s }"), baseDirectory: directory)
        #expect(exposed.warnings.map(\.description) == [
            "applications[0].clientSecret: '\(directory)/s' is readable by every user (mode 0644); make it readable by its owner and "
                + "graph-relay's group only (e.g. chown root:graph-relay and chmod 640)",
        ])
        try mode(directory + "/s", 0o640)   // group: graph-relay's own (the test's)
        #expect(try loadConfiguration(withApplication(ids + "\nclientSecret: { file: s }"), baseDirectory: directory).warnings.isEmpty)
        if geteuid() == 0 {
            // A group graph-relay does not run as.
            #expect(chown(directory + "/s", 0, getegid() == 1 ? 2 : 1) == 0)
            let foreign = try loadConfiguration(withApplication(ids + "\nclientSecret: { file: s }"), baseDirectory: directory)
            #expect(foreign.warnings.first?.message.contains("which graph-relay does not run as (mode 0640)") == true, "\(foreign.warnings)")
        }

        // Private keys: readable by everyone is refused.
        let pki = TestPKI.shared
        let key = directory + "/key.pem"
        try FileManager.default.copyItem(atPath: pki.serverKey, toPath: key)
        try mode(key, 0o644)
        let tls = minimalYAML + "\ntls: { certificate: \(pki.serverCertificate), privateKey: \(key) }\n"
        #expect(configurationIssues(tls) == [
            "tls.privateKey: '\(key)' is readable by every user (mode 0644); make it readable by its owner and graph-relay's group only "
                + "(e.g. chown root:graph-relay and chmod 640); a private key readable by everyone is refused",
        ])
        try mode(key, 0o600)
        #expect(try loadConfiguration(tls).warnings.isEmpty)

        // The configuration file itself.
        try write(minimalYAML, to: directory + "/graph-relay.yaml")
        try mode(directory + "/graph-relay.yaml", 0o644)
        let file = try RelayConfiguration.load(contentsOfFile: directory + "/graph-relay.yaml", environment: [:])
        #expect(file.warnings.first?.message.hasPrefix("the configuration file '\(directory)/graph-relay.yaml' is readable by every user (mode 0644)") == true)
        try mode(directory + "/graph-relay.yaml", 0o600)
        #expect(try RelayConfiguration.load(contentsOfFile: directory + "/graph-relay.yaml", environment: [:]).warnings.isEmpty)
    }

    @Test("secret values never appear in descriptions, dumps or errors")
    func redaction() throws {
        let secret = Secret("TOPSECRET-123", source: .environment("X"))
        #expect(secret.description == "<redacted secret from environment variable X>")
        #expect("\(secret)" == secret.description)
        #expect(String(reflecting: secret) == secret.description)
        var dumped = ""
        dump(secret, to: &dumped)
        #expect(!dumped.contains("TOPSECRET"))
        let configuration = try loadConfiguration(withApplication(ids + "\nclientSecret: TOPSECRET-123"))
        var all = ""
        dump(configuration, to: &all)
        #expect(!all.contains("TOPSECRET"))
        #expect(!"\(configuration.applications[0].credential)".contains("TOPSECRET"))
        // A password hash taken from a secret file is not echoed when it is invalid.
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try write("TOPSECRET-hash", to: directory + "/hash")
        let issues = configurationIssues("""
            access: { users: [ { name: u, passwordHash: { file: \(directory)/hash } } ] }
            smtp: { listeners: [ { address: "0.0.0.0:25", allowPlaintextAuth: true } ] }
            applications: [ { name: c, tenantId: t.example, clientId: 00000000-0000-0000-0000-000000000000, clientSecret: x } ]
            routes: [ { sender: "*", application: c, mailbox: a@b.example } ]
            """)
        #expect(issues.count == 1)
        #expect(issues[0].hasPrefix("access.users[0].passwordHash: not a graph-relay password hash"))
        #expect(!issues[0].contains("TOPSECRET"))
    }

    // MARK: Applications

    @Test("national clouds set endpoints and scope; overrides keep the scope")
    func clouds() throws {
        let usgov = try loadConfiguration(withApplication(ids + "\nclientSecret: x\ncloud: usgov"))
        #expect(usgov.applications[0].loginEndpoint.url == "https://login.microsoftonline.us")
        #expect(usgov.applications[0].graphEndpoint.url == "https://graph.microsoft.us")
        #expect(usgov.applications[0].scope == "https://graph.microsoft.us/.default")
        let dod = try loadConfiguration(withApplication(ids + "\nclientSecret: x\ncloud: usgov-dod"))
        #expect(dod.applications[0].graphEndpoint.url == "https://dod-graph.microsoft.us")
        #expect(dod.applications[0].scope == "https://dod-graph.microsoft.us/.default")
        let china = try loadConfiguration(withApplication(ids + "\nclientSecret: x\ncloud: china"))
        #expect(china.applications[0].loginEndpoint.url == "https://login.chinacloudapi.cn")
        #expect(china.applications[0].scope == "https://microsoftgraph.chinacloudapi.cn/.default")

        let overridden = try loadConfiguration(withApplication(ids + """

            clientSecret: x
            loginEndpoint: https://127.0.0.1:8443/
            graphEndpoint: http://localhost:8080/graph/
            """))
        let application = overridden.applications[0]
        #expect(application.loginEndpoint == (try ServiceEndpoint(parsing: "https://127.0.0.1:8443")))
        #expect(application.graphEndpoint.url == "http://localhost:8080/graph")
        #expect(application.graphEndpoint.port == 8080 && !application.graphEndpoint.usesTLS)
        #expect(application.scope == "https://graph.microsoft.com/.default")
        #expect(application.tokenEndpoint == "https://127.0.0.1:8443/contoso.onmicrosoft.com/oauth2/v2.0/token")
        #expect(application.sendMailURL(mailbox: "a b/c@x.y") == "http://localhost:8080/graph/v1.0/users/a%20b%2Fc@x.y/sendMail")

        #expect(configurationIssues(withApplication(ids + "\nclientSecret: x\ncloud: azure-germany"))
            == ["applications[0].cloud: 'azure-germany' is not one of: global, usgov, usgov-dod, china"])
        #expect(configurationIssues(withApplication(ids + "\nclientSecret: x\ngraphEndpoint: http://graph.example.com"))
            == ["applications[0].graphEndpoint: 'http://graph.example.com' must use https (http only to a loopback address)"])
        #expect(configurationIssues(withApplication(ids + "\nclientSecret: x\nloginEndpoint: login.example.com"))
            == ["applications[0].loginEndpoint: 'login.example.com' is not an absolute URL like https://host[:port]"])
        #expect(configurationIssues(withApplication(ids + "\nclientSecret: x\nloginEndpoint: https://login.example.com/?a=b"))
            == ["applications[0].loginEndpoint: 'https://login.example.com/?a=b' must not have a query or fragment"])
    }

    @Test("credentials: exactly one; certificate files; workload identity from the environment")
    func credentials() throws {
        #expect(configurationIssues(withApplication(ids))
            == ["applications[0]: a credential is required: clientSecret, certificate, workloadIdentity or managedIdentity"])
        #expect(configurationIssues(withApplication(ids + "\nclientSecret: x\nworkloadIdentity: true"))
            == ["applications[0]: 'clientSecret' and 'workloadIdentity' are mutually exclusive; give exactly one credential"])
        #expect(configurationIssues(withApplication(ids + "\nworkloadIdentity: false"))
            == ["applications[0].workloadIdentity: is false, so the application has no credential; use clientSecret, certificate or workloadIdentity: true"])

        let pki = TestPKI.shared
        let certificate = try loadConfiguration(withApplication(ids + "\ncertificate: { certificate: \(pki.serverCertificate), privateKey: \(pki.serverKey) }"))
        #expect(certificate.applications[0].credential == .certificate(certificate: .file(pki.serverCertificate), privateKey: .file(pki.serverKey)))
        #expect(configurationIssues(withApplication(ids + "\ncertificate: { certificate: \(pki.serverKey), privateKey: \(pki.serverCertificate) }")) == [
            "applications[0].certificate.certificate: '\(pki.serverKey)' contains no PEM certificate",
            "applications[0].certificate.privateKey: '\(pki.serverCertificate)' contains no PEM private key",
        ])
        #expect(configurationIssues(withApplication(ids + "\ncertificate: { certificate: \(pki.serverCertificate) }"))
            == ["applications[0].certificate: missing required key 'privateKey' (PEM private key)"])
        for encrypted in [pki.encryptedServerKey, pki.traditionalEncryptedServerKey] {
            #expect(configurationIssues(withApplication(ids + "\ncertificate: { certificate: \(pki.serverCertificate), privateKey: \(encrypted) }")) == [
                "applications[0].certificate.privateKey: '\(encrypted)' holds a passphrase-protected private key; graph-relay reads unencrypted keys only (decrypt it with `openssl pkey -in KEY -out PLAIN` and protect the file by its permissions)",
            ])
        }
        let pem = try String(contentsOfFile: pki.serverCertificate, encoding: .utf8)
        let fromEnvironment = try loadConfiguration(withApplication(ids + "\ncertificate: { certificate: { env: CERT }, privateKey: \(pki.serverKey) }"),
                                                    environment: ["CERT": pem])
        #expect(fromEnvironment.applications[0].credential == .certificate(certificate: .pem(pem), privateKey: .file(pki.serverKey)))

        let environment = [
            "AZURE_TENANT_ID": "11111111-1111-1111-1111-111111111111",
            "AZURE_CLIENT_ID": "22222222-2222-2222-2222-222222222222",
            "AZURE_FEDERATED_TOKEN_FILE": "/var/run/secrets/azure/tokens/azure-identity-token",
            "AZURE_AUTHORITY_HOST": "https://login.microsoftonline.com/",
        ]
        let workload = try loadConfiguration(withApplication("workloadIdentity: true"), environment: environment)
        #expect(workload.applications[0].tenantId == "11111111-1111-1111-1111-111111111111")
        #expect(workload.applications[0].clientId == "22222222-2222-2222-2222-222222222222")
        #expect(workload.applications[0].credential == .workloadIdentity(tokenFile: "/var/run/secrets/azure/tokens/azure-identity-token"))
        #expect(workload.applications[0].loginEndpoint.url == "https://login.microsoftonline.com")
        let explicitFile = try loadConfiguration(withApplication(ids + "\nworkloadIdentity: { tokenFile: /tmp/token }"))
        #expect(explicitFile.applications[0].credential == .workloadIdentity(tokenFile: "/tmp/token"))
        #expect(configurationIssues(withApplication("workloadIdentity: true")) == [
            "applications[0]: missing required key 'tenantId' (or set AZURE_TENANT_ID)",
            "applications[0]: missing required key 'clientId' (or set AZURE_CLIENT_ID)",
            "applications[0].workloadIdentity: no token file: set AZURE_FEDERATED_TOKEN_FILE or workloadIdentity.tokenFile",
        ])
    }

    @Test("managed identity: system- or user-assigned, the endpoint, and the keys it has no use for")
    func managedIdentity() throws {
        let system = try loadConfiguration(withApplication("managedIdentity: true"))
        #expect(system.applications[0].credential == .managedIdentity(ManagedIdentity()))
        #expect(system.applications[0].tenantId == "" && system.applications[0].clientId == "")
        let graph = system.applications[0].graphApplication().application
        #expect(graph.managedIdentity == ManagedIdentity())
        #expect(graph.loginEndpoint == nil)
        #expect(graph.effectiveGraphEndpoint == "https://graph.microsoft.com")

        let clientId = "22222222-2222-4222-8222-222222222222"
        let user = try loadConfiguration(withApplication("cloud: usgov\nmanagedIdentity: { clientId: \(clientId), endpoint: \"http://127.0.0.1:8080/metadata/identity/oauth2/token/\" }"))
        #expect(user.applications[0].credential == .managedIdentity(ManagedIdentity(identity: .clientID(clientId), endpoint: "http://127.0.0.1:8080/metadata/identity/oauth2/token")))
        #expect(user.applications[0].clientId == clientId)
        #expect(user.applications[0].graphApplication().application.resource == "https://graph.microsoft.us")
        let resourceId = "/subscriptions/1/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/relay"
        let byResource = try loadConfiguration(withApplication("managedIdentity: { resourceId: \(resourceId), endpoint: \"http://169.254.169.254/metadata/identity/oauth2/token\" }"))
        #expect(byResource.applications[0].credential == .managedIdentity(ManagedIdentity(identity: .resourceID(resourceId))))
        let byObject = try loadConfiguration(withApplication("managedIdentity: { objectId: \(clientId) }\ngraphEndpoint: https://graph.example.net\ncaFile: \(TestPKI.shared.caCertificate)"))
        #expect(byObject.applications[0].credential == .managedIdentity(ManagedIdentity(identity: .objectID(clientId))))
        #expect(byObject.applications[0].graphEndpoint.url == "https://graph.example.net")

        #expect(configurationIssues(withApplication(ids + "\nloginEndpoint: https://login.example.net\nmanagedIdentity: true")) == [
            "applications[0].tenantId: is not used with managedIdentity: the identity belongs to the VM's tenant",
            "applications[0].clientId: is not used with managedIdentity; name a user-assigned identity with managedIdentity: { clientId: … }",
            "applications[0].loginEndpoint: is not used with managedIdentity (tokens come from the instance metadata service); set managedIdentity.endpoint to change where",
        ])
        #expect(configurationIssues(withApplication("managedIdentity: false"))
            == ["applications[0].managedIdentity: is false, so the application has no credential; use managedIdentity: true, clientSecret, certificate or workloadIdentity"])
        #expect(configurationIssues(withApplication("managedIdentity: maybe"))
            == ["applications[0].managedIdentity: expected true or false, found 'maybe'"])
        #expect(configurationIssues(withApplication(ids + "\nclientSecret: x\nmanagedIdentity: true"))
            == ["applications[0]: 'clientSecret' and 'managedIdentity' are mutually exclusive; give exactly one credential"])
        #expect(configurationIssues(withApplication("managedIdentity: { clientId: relay, objectId: \(clientId) }")) == [
            "applications[0].managedIdentity: 'clientId' and 'objectId' are mutually exclusive; name the user-assigned identity once",
            "applications[0].managedIdentity.clientId: 'relay' is not a GUID (the user-assigned identity's Client ID)",
        ])
        #expect(configurationIssues(withApplication("managedIdentity: { resourceId: relay }")) == [
            "applications[0].managedIdentity.resourceId: 'relay' is not the resource ID of a user-assigned identity (/subscriptions/…/providers/Microsoft.ManagedIdentity/userAssignedIdentities/NAME)",
        ])
        #expect(configurationIssues(withApplication("managedIdentity: { endpoint: \"http://imds.example.net/token\" }")) == [
            "applications[0].managedIdentity.endpoint: 'http://imds.example.net/token': http:// only to the link-local instance metadata address (169.254.169.254) or loopback; use https:// otherwise",
        ])
        #expect(configurationIssues(withApplication("managedIdentity: { endpoint: \"http://169.254.169.254/token?x=1\" }")) == [
            "applications[0].managedIdentity.endpoint: 'http://169.254.169.254/token?x=1' must not have a query or fragment",
        ])
        #expect(configurationIssues(withApplication("managedIdentity: { clientID: \(clientId) }")).first?.contains("clientID") == true)
    }

    @Test("application identifiers and names are validated")
    func identifiers() {
        #expect(configurationIssues(withApplication("tenantId: contoso onmicrosoft\nclientId: 00000000-0000-0000-0000-000000000000\nclientSecret: x"))
            == ["applications[0].tenantId: 'contoso onmicrosoft' is not a tenant ID (a GUID or a domain such as contoso.onmicrosoft.com)"])
        let duplicate = """
            access: { networks: ["10.0.0.0/8"] }
            applications:
              - { name: c, tenantId: t.example, clientId: 00000000-0000-0000-0000-000000000000, clientSecret: x }
              - { name: c, tenantId: t.example, clientId: 00000000-0000-0000-0000-000000000000, clientSecret: y }
            routes: [ { sender: "*", application: c, mailbox: a@b.example } ]
            """
        #expect(configurationIssues(duplicate) == ["applications[1].name: duplicate application 'c' (also applications[0])"])
        #expect(configurationIssues("access: { networks: [\"10.0.0.0/8\"] }\nroutes: [ { sender: \"*\", application: c, mailbox: a@b.example } ]\n") == [
            "applications: at least one application is required",
            "routes[0].application: unknown application 'c' (none defined)",
        ])
    }

    // MARK: SMTP and TLS

    @Test("listeners: addresses, TLS modes need the tls section, duplicates, requireTLS")
    func listeners() {
        let base = minimalYAML + "\nsmtp:\n  listeners:\n"
        #expect(configurationIssues(base + "    - { address: \"0.0.0.0:465\", tls: implicit }\n")
            == ["smtp.listeners[0].tls: 'implicit' needs the tls section (tls.certificate and tls.privateKey)"])
        #expect(configurationIssues(base + "    - { address: \"0.0.0.0:25\", tls: startls }\n")
            == ["smtp.listeners[0].tls: 'startls' is not one of: none, starttls, implicit"])
        #expect(configurationIssues(base + "    - { address: \"127.0.0.1:25\" }\n    - { address: \"127.0.0.1:25\" }\n")
            == ["smtp.listeners[1].address: 127.0.0.1:25 is already used by smtp.listeners[0]"])
        #expect(configurationIssues(base + "    - { address: \"127.0.0.1:25\", requireTLS: true }\n")
            == ["smtp.listeners[0].requireTLS: cannot require TLS on a 'tls: none' listener; use tls: starttls"])
        #expect(configurationIssues(base + "    - { tls: none }\n")
            == ["smtp.listeners[0]: missing required key 'address' (host:port, e.g. 0.0.0.0:25)"])
        #expect(configurationIssues(base + "    - { address: \"::1:25\" }\n")
            == ["smtp.listeners[0].address: '::1:25': write IPv6 addresses in brackets, like [::]:25"])
        #expect(configurationIssues(base + "    - { address: \"0.0.0.0:99999\" }\n")
            == ["smtp.listeners[0].address: '0.0.0.0:99999' has an invalid port (expected 1–65535, or 0 for any free port)"])
        #expect(configurationIssues(minimalYAML + "\nsmtp: { listeners: [] }\n") == ["smtp.listeners: at least one listener is required"])
        #expect(configurationIssues(minimalYAML + "\nsmtp: { hostname: \"relay example\" }\n")
            == ["smtp.hostname: 'relay example' is not a valid host name (letters, digits, '-' and '.')"])
    }

    @Test("tls: legacy protocols need the opt-in; OpenSSL checks key and cipher strings")
    func tls() throws {
        let pki = TestPKI.shared
        let files = "certificate: \(pki.serverCertificate), privateKey: \(pki.serverKey)"
        #expect(configurationIssues(minimalYAML + "\ntls: { \(files), minimumVersion: \"1.0\" }\n")
            == ["tls.minimumVersion: TLSv1.0 is a legacy protocol; it needs tls.allowLegacyProtocols: true (for old devices only)"])
        let legacy = try loadConfiguration(minimalYAML + "\ntls: { \(files), allowLegacyProtocols: true }\n")
        #expect(legacy.tls?.minimumVersion == .tls1_0)
        #expect(legacy.tls?.serverConfiguration.allowLegacyProtocols == true)
        #expect(legacy.warnings.isEmpty)  // one listener: nothing to keep modern
        // Per listener: its own context; the global switch with several listeners gets a warning.
        let listeners = """
            smtp:
              listeners:
                - { address: "0.0.0.0:25", tls: starttls, allowLegacyProtocols: true }
                - { address: "0.0.0.0:587", tls: starttls }

            """
        let perListener = try loadConfiguration(minimalYAML + "\n" + listeners + "tls: { \(files) }\n")
        #expect(perListener.smtp.listeners.map(\.allowLegacyProtocols) == [true, false])
        #expect(perListener.tls?.serverConfiguration.allowLegacyProtocols == false)
        #expect(perListener.tls?.legacyServerConfiguration.minimumVersion == .tls1_0)
        #expect(perListener.warnings.isEmpty)
        let global = try loadConfiguration(minimalYAML + "\n" + listeners + "tls: { \(files), allowLegacyProtocols: true }\n")
        #expect(global.warnings.map(\.path) == ["tls.allowLegacyProtocols"])
        #expect(configurationIssues(minimalYAML + "\nsmtp: { listeners: [ { address: \"0.0.0.0:25\", tls: none, allowLegacyProtocols: true } ] }\n")
            == ["smtp.listeners[0].allowLegacyProtocols: a 'tls: none' listener has no TLS to allow legacy protocols for; use tls: starttls or implicit"])
        let strict = try loadConfiguration(minimalYAML + "\ntls: { \(files), minimumVersion: TLSv1.3, handshakeTimeout: 3s }\n")
        #expect(strict.tls?.minimumVersion == .tls1_3)
        #expect(strict.tls?.serverConfiguration.handshakeTimeout == .seconds(3))
        #expect(configurationIssues(minimalYAML + "\ntls: { \(files), minimumVersion: \"1.3\", maximumVersion: \"1.2\" }\n")
            == ["tls.maximumVersion: TLSv1.2 is lower than the minimum version TLSv1.3"])
        #expect(configurationIssues(minimalYAML + "\ntls: { \(files), minimumVersion: \"2.0\" }\n")
            == ["tls.minimumVersion: '2.0' is not a TLS version (1.0, 1.1, 1.2, 1.3)"])
        let mismatch = configurationIssues(minimalYAML + "\ntls: { certificate: \(pki.serverCertificate), privateKey: \(pki.ecServerKey) }\n")
        #expect(mismatch.count == 1 && mismatch[0].hasPrefix("tls: OpenSSL refused the TLS settings"))
        let badCiphers = configurationIssues(minimalYAML + "\ntls: { \(files), cipherList: \"NOT-A-CIPHER\" }\n")
        #expect(badCiphers.count == 1 && badCiphers[0].hasPrefix("tls: OpenSSL refused the TLS settings"))
        let unused = try loadConfiguration(minimalYAML + "\ntls: { \(files) }\nsmtp: { listeners: [ { address: \"0.0.0.0:25\", tls: none } ] }\n")
        #expect(unused.warnings.map(\.description) == ["tls: no listener uses TLS (all are 'tls: none'); the certificate is not used"])
        #expect(configurationIssues(minimalYAML + "\ntls: { certificate: /nonexistent.pem }\n") == [
            "tls.certificate: cannot read '/nonexistent.pem': no such file",
            "tls: missing required key 'privateKey' (PEM private key)",
        ])
    }

    // MARK: Access

    @Test("access: users, hashes, allowed senders, empty policy, open relay warning")
    func access() throws {
        let base = """
            applications: [ { name: c, tenantId: t.example, clientId: 00000000-0000-0000-0000-000000000000, clientSecret: x } ]
            routes: [ { sender: "*", application: c, mailbox: a@b.example } ]
            smtp: { listeners: [ { address: "127.0.0.1:25", allowPlaintextAuth: true } ] }

            """
        #expect(configurationIssues(base) == ["access: neither access.networks nor access.users is configured, so no client could relay"])
        #expect(configurationIssues(base + "access: { users: [ { name: u, passwordHash: \"plain\" } ] }")
            == ["access.users[0].passwordHash: not a graph-relay password hash: expected $scrypt$ln=…,r=…,p=…$salt$hash or $pbkdf2-sha256$i=…$salt$hash; create one with 'graph-relay hash-password'"])
        #expect(configurationIssues(base + "access: { users: [ { name: u } ] }")
            == ["access.users[0]: missing required key 'passwordHash' (create one with 'graph-relay hash-password')"])
        #expect(configurationIssues(base + "access: { users: [ { name: u, passwordHash: \"\(testPasswordHash)\", allowedSenders: [] } ] }")
            == ["access.users[0].allowedSenders: an empty list allows no sender at all; remove the key to allow any sender"])
        #expect(configurationIssues(base + "access: { users: [ { name: u, passwordHash: \"\(testPasswordHash)\", allowedSenders: [\"contoso.com\"] } ] }")
            == ["access.users[0].allowedSenders[0]: 'contoso.com' is not a sender pattern; use '*', '<>', '*@domain' or local@domain"])
        #expect(configurationIssues(base + "access: { users: [ { name: u, passwordHash: \"\(testPasswordHash)\" }, { name: u, passwordHash: \"\(testPasswordHash)\" } ] }")
            == ["access.users[1].name: duplicate user 'u' (also access.users[0])"])
        #expect(configurationIssues(base + "access: { networks: 10.0.0.0/8 }") == ["access.networks: expected a list, found a value"])

        // Hashes too cheap to protect a password whose hash leaks, and the example's placeholder.
        let weakScrypt = try PasswordHasher.hash(password: "pw", algorithm: .scrypt(logN: 13, r: 8, p: 1))
        let weakPBKDF2 = try PasswordHasher.hash(password: "pw", algorithm: .pbkdf2SHA256(iterations: 99_999))
        let strongPBKDF2 = try PasswordHasher.hash(password: "pw", algorithm: .pbkdf2SHA256(iterations: 100_000))
        #expect(configurationIssues(base + "access: { users: [ { name: u, passwordHash: \"\(weakScrypt)\" }, { name: v, passwordHash: \"\(weakPBKDF2)\" } ] }")
            == ["access.users[0].passwordHash: scrypt ln=13,r=8 uses 8192 KiB per check, below the minimum of 16384 KiB (ln=14 with r=8); create a new one with 'graph-relay hash-password'",
                "access.users[1].passwordHash: pbkdf2-sha256 with 99999 iterations is below the minimum of 100000; create a new one with 'graph-relay hash-password'"])
        #expect(configurationIssues(base + "access: { users: [ { name: u, passwordHash: \"\(strongPBKDF2)\" } ] }") == [])
        #expect(configurationIssues(base + "access: { users: [ { name: u, passwordHash: \"$scrypt$ln=15,r=8,p=1$a+XwHMo+SCKpEyZ6Y4rrqA$kQgaJi+GP/P29R6mB6INkXALHQKCLN8MrK+y0oYj0Kk\" } ] }")
            == ["access.users[0].passwordHash: this is the example configuration's placeholder, whose password ('change-me') is published; create your own with 'graph-relay hash-password'"])

        // The brute-force limits and the success cache.
        let defaults = try loadConfiguration(base + "access: { networks: [10.0.0.0/8] }")
        #expect(defaults.access.authFailureLimit == 10)
        #expect(defaults.access.authFailureWindow == .seconds(600))
        #expect(defaults.access.authCacheTime == .seconds(600))
        let tuned = try loadConfiguration(base + "access: { networks: [10.0.0.0/8], authFailureLimit: 0, authFailureWindow: 1h, authCacheTime: 0s }")
        #expect(tuned.access.authFailureLimit == 0)
        #expect(tuned.access.authFailureWindow == .seconds(3600))
        #expect(tuned.access.authCacheTime == .zero)
        #expect(configurationIssues(base + "access: { networks: [10.0.0.0/8], authFailureLimit: -1, authFailureWindow: 1s }").count == 2)

        let open = try loadConfiguration(base + "access: { networks: [\"0.0.0.0/0\"] }")
        #expect(open.warnings.map(\.description) == ["access.networks[0]: 0.0.0.0/0 lets every client relay without authentication (an open relay)"])
        let noAuth = try loadConfiguration(base.replacingOccurrences(of: ", allowPlaintextAuth: true", with: "")
            + "access: { users: [ { name: u, passwordHash: \"\(testPasswordHash)\" } ] }")
        #expect(noAuth.warnings.map(\.description)
            == ["access.users: no listener offers AUTH (all are 'tls: none' without allowPlaintextAuth), so these users cannot log in"])
    }

    // MARK: Routes

    @Test("routes: sender patterns, mailboxes, narrowing, null sender, unreachable routes")
    func routes() throws {
        let head = """
            access:
              networks: ["10.0.0.0/8"]
              users: [ { name: printer, passwordHash: "\(testPasswordHash)", allowedSenders: ["*@contoso.com"] } ]
            smtp: { listeners: [ { address: "127.0.0.1:25", allowPlaintextAuth: true } ] }
            applications: [ { name: c, tenantId: t.example, clientId: 00000000-0000-0000-0000-000000000000, clientSecret: x } ]
            routes:

            """
        let narrowed = try loadConfiguration(head + """
              - { sender: "*@contoso.com", application: c, mailbox: sender, authenticatedUser: printer, clientNetworks: ["10.1.0.0/16"] }
              - { sender: "*@contoso.com", application: c, mailbox: SENDER, authenticatedUser: [printer] }
              - { sender: "<>", application: c, mailbox: postmaster@contoso.com }
            """)
        #expect(narrowed.routes[0].authenticatedUsers == ["printer"])
        #expect(narrowed.routes[0].clientNetworks == [try CIDRBlock(parsing: "10.1.0.0/16")])
        #expect(narrowed.routes[1].mailbox == .sender)
        #expect(narrowed.routes[2].sender == .nullSender)
        #expect(narrowed.warnings.isEmpty)

        #expect(configurationIssues(head + "  - { sender: \"<>\", application: c, mailbox: sender }")
            == ["routes[0].mailbox: 'sender' cannot be used for the null sender '<>' (there is no address to send as); name a mailbox"])
        #expect(configurationIssues(head + "  - { sender: \"*\", application: c, mailbox: not-an-address }")
            == ["routes[0].mailbox: 'not-an-address' is neither an email address nor 'sender'"])
        #expect(configurationIssues(head + "  - { sender: \"*\", application: c, mailbox: a@b.example, authenticatedUser: scanner }")
            == ["routes[0].authenticatedUser: unknown user 'scanner' (known: printer)"])
        #expect(configurationIssues(head + "  - { sender: \"*\", application: c }")
            == ["routes[0]: missing required key 'mailbox' (an address, or 'sender' to send as the envelope sender)"])
        #expect(configurationIssues(head + "  - { sender: \"*\", application: c, mailbox: a@b.example, clientNetworks: [] }")
            == ["routes[0].clientNetworks: an empty list matches no client; remove the key to match any client"])
        #expect(configurationIssues(head.replacingOccurrences(of: "routes:\n", with: "routes: []\n")) == ["routes: at least one route is required"])

        let unreachable = try loadConfiguration(head + """
              - { sender: "*@contoso.com", application: c, mailbox: sender }
              - { sender: "alice@contoso.com", application: c, mailbox: sender }
              - { sender: "*", application: c, mailbox: n@contoso.com }
              - { sender: "*@fabrikam.com", application: c, mailbox: sender }
              - { sender: "<>", application: c, mailbox: n@contoso.com }
            """)
        #expect(unreachable.warnings.map(\.description).filter { $0.contains("can never match") } == [
            "routes[1]: can never match: routes[0] (sender '*@contoso.com') matches every sender it would",
            "routes[3]: can never match: routes[2] (sender '*') matches every sender it would",
            "routes[4]: can never match: routes[2] (sender '*') matches every sender it would",
        ])
        // A '*' route with mailbox 'sender' leaves the null sender to later routes.
        let senderCatchAll = try loadConfiguration(head + """
              - { sender: "*", application: c, mailbox: sender }
              - { sender: "<>", application: c, mailbox: n@contoso.com }
            """)
        #expect(senderCatchAll.warnings.map(\.path) == ["routes[0].mailbox"])
    }

    @Test("mailbox: sender reachable without authentication or by a user without allowedSenders is warned about")
    func senderAuthorization() throws {
        let head = """
            access:
              networks: ["10.0.0.0/8"]
              users:
                - { name: printer, passwordHash: "\(testPasswordHash)", allowedSenders: ["scanner@contoso.com"] }
                - { name: erp, passwordHash: "\(testPasswordHash)" }
            smtp: { listeners: [ { address: "127.0.0.1:25", allowPlaintextAuth: true, requireHeaderFromMatch: true } ] }
            applications: [ { name: c, tenantId: t.example, clientId: 00000000-0000-0000-0000-000000000000, clientSecret: x } ]
            routes:

            """
        let open = try loadConfiguration(head + """
              - { sender: "*@contoso.com", application: c, mailbox: sender }
            """)
        #expect(open.warnings.map(\.description) == [
            "routes[0].mailbox: 'sender' sends as any address matching '*@contoso.com' that an unauthenticated client in 10.0.0.0/8 claims; "
                + "narrow the route with authenticatedUser (users with allowedSenders), or send as a fixed mailbox",
            "routes[0].mailbox: 'sender' lets 'erp' send as any address matching '*@contoso.com' (no allowedSenders); give each user allowedSenders",
        ])
        #expect(open.smtp.listeners[0].requireHeaderFromMatch)
        // Narrowed to a user with allowedSenders, to networks outside access.networks, or one exact address: no warning.
        let safe = try loadConfiguration(head + """
              - { sender: "*@contoso.com", application: c, mailbox: sender, authenticatedUser: printer, requireHeaderFromMatch: true }
              - { sender: "*@fabrikam.com", application: c, mailbox: sender, authenticatedUser: printer, clientNetworks: ["192.168.0.0/16"] }
              - { sender: "erp@contoso.com", application: c, mailbox: sender }
              - { sender: "*", application: c, mailbox: noreply@contoso.com, rewriteFrom: true }
            """)
        #expect(safe.warnings.isEmpty, "\(safe.warnings)")
        #expect(safe.routes[0].requireHeaderFromMatch && !safe.routes[1].requireHeaderFromMatch)
        // A route for other networks is still reachable by a trusted network inside it.
        let overlapping = try loadConfiguration(head + """
              - { sender: "*@contoso.com", application: c, mailbox: sender, clientNetworks: ["10.1.0.0/16"] }
            """)
        #expect(overlapping.warnings.count == 2)
        // rewriteFrom to a fixed mailbox with requireHeaderFromMatch refuses everything but that mailbox.
        let contradictory = try loadConfiguration(head + """
              - { sender: "*", application: c, mailbox: noreply@contoso.com, rewriteFrom: true, requireHeaderFromMatch: true }
            """)
        #expect(contradictory.warnings.map(\.path) == ["routes[0].requireHeaderFromMatch"])
        #expect(configurationIssues(head + "  - { sender: \"*\", application: c, mailbox: a@contoso.com, requireHeaderFromMatch: maybe }").count == 1)
    }

    // MARK: Delivery, spool, scheduler, bounces

    @Test("delivery, spool retry ordering, scheduler limits, bounces")
    func delivery() throws {
        let configuration = try loadConfiguration(minimalYAML + """

            delivery: synchronous
            spool: { directory: /tmp/spool, retry: { initial: 2s, maximum: 10s, lifetime: 1m, multiplier: 1.5 } }
            scheduler: { concurrencyPerMailbox: 2, messagesPerMinute: 1_000 }
            bounces: { enabled: no, adminAddress: admin@contoso.com }
            """)
        #expect(configuration.delivery == .synchronous)
        #expect(configuration.spool.retry.initial == .seconds(2))
        #expect(configuration.spool.retry.lifetime == .seconds(60))
        #expect(configuration.spool.retry.multiplier == 1.5)
        #expect(configuration.scheduler.concurrencyPerMailbox == 2)
        #expect(configuration.scheduler.messagesPerMinute == 1000)
        #expect(configuration.bounces.enabled == false)
        #expect(configuration.bounces.adminAddress == "admin@contoso.com")

        #expect(configurationIssues(minimalYAML + "\nspool: { retry: { initial: 2h } }\n")
            == ["spool.retry.maximum: 1h is less than spool.retry.initial (2h)"])
        #expect(configurationIssues(minimalYAML + "\nspool: { retry: { maximum: 2d, lifetime: 1d } }\n")
            == ["spool.retry.lifetime: 1d is less than spool.retry.maximum (2d)"])
        #expect(configurationIssues(minimalYAML + "\nspool: { retry: { lifetime: 5 } }\n")
            == ["spool.retry.lifetime: '5' is not a duration; use a number with a unit: 500ms, 30s, 5m, 1h, 5d"])
        #expect(configurationIssues(minimalYAML + "\ndelivery: later\n") == ["delivery: 'later' is not one of: queue, synchronous"])
        #expect(configurationIssues(minimalYAML + "\nbounces: { enabled: maybe, adminAddress: nobody }\n") == [
            "bounces.enabled: expected true or false, found 'maybe'",
            "bounces.adminAddress: 'nobody' is not an email address (local@domain)",
        ])
        #expect(configurationIssues(minimalYAML + "\nscheduler: { messagesPerMinute: zero }\n")
            == ["scheduler.messagesPerMinute: expected a whole number, found 'zero'"])
    }

    @Test("configurations built in code are validated with validate()")
    func programmatic() throws {
        var configuration = RelayConfiguration()
        #expect(configuration.validate().errors.map(\.description) == [
            "access: neither access.networks nor access.users is configured, so no client could relay",
            "applications: at least one application is required",
            "routes: at least one route is required",
        ])
        configuration.access.networks = [try CIDRBlock(parsing: "127.0.0.0/8")]
        configuration.applications = [RelayConfiguration.Application(
            name: "c", tenantId: "t.example", clientId: "00000000-0000-0000-0000-000000000000", credential: .clientSecret(Secret("x")))]
        configuration.routes = [RelayConfiguration.Route(sender: .any, application: "d", mailbox: .sender)]
        configuration.smtp.listeners = [RelayConfiguration.Listener(address: ListenAddress(host: "127.0.0.1", port: 2525), tls: .starttls)]
        #expect(configuration.validate().errors.map(\.description) == [
            "smtp.listeners[0].tls: 'starttls' needs the tls section (tls.certificate and tls.privateKey)",
            "routes[0].application: unknown application 'd' (known: c)",
        ])
        configuration.routes[0].application = "c"
        configuration.smtp.listeners[0].tls = .none
        #expect(configuration.validate().errors.isEmpty)
        #expect(configuration.application(named: "c")?.clientId == "00000000-0000-0000-0000-000000000000")
    }
}

@Suite("Configuration values")
struct ConfigurationValueTests {
    @Test("sizes: bytes, decimal and binary units, decimals; ambiguous units refused")
    func sizes() {
        #expect(ConfigurationValue.byteSize("3MB") == 3_000_000)
        #expect(ConfigurationValue.byteSize("35MB") == 35_000_000)
        #expect(ConfigurationValue.byteSize("3 mb") == 3_000_000)
        #expect(ConfigurationValue.byteSize("2.5MB") == 2_500_000)
        #expect(ConfigurationValue.byteSize("256KiB") == 262_144)
        #expect(ConfigurationValue.byteSize("1GiB") == 1_073_741_824)
        #expect(ConfigurationValue.byteSize("500KB") == 500_000)
        #expect(ConfigurationValue.byteSize("4096") == 4096)
        #expect(ConfigurationValue.byteSize("10B") == 10)
        #expect(ConfigurationValue.byteSize("3M") == nil)
        #expect(ConfigurationValue.byteSize("MB") == nil)
        #expect(ConfigurationValue.byteSize("-3MB") == nil)
        #expect(ConfigurationValue.byteSize("3MBB") == nil)
        #expect(ConfigurationValue.byteSize("") == nil)
        #expect(ConfigurationValue.byteSize("1.2.3MB") == nil)
    }

    @Test("durations: units, combinations, decimals; a unit is required")
    func durations() {
        #expect(ConfigurationValue.duration("30s") == .seconds(30))
        #expect(ConfigurationValue.duration("5m") == .seconds(300))
        #expect(ConfigurationValue.duration("1h") == .seconds(3600))
        #expect(ConfigurationValue.duration("5d") == .seconds(432_000))
        #expect(ConfigurationValue.duration("1h30m") == .seconds(5400))
        #expect(ConfigurationValue.duration("1h 30m") == .seconds(5400))
        #expect(ConfigurationValue.duration("500ms") == .milliseconds(500))
        #expect(ConfigurationValue.duration("0.5s") == .milliseconds(500))
        #expect(ConfigurationValue.duration("2 minutes") == .seconds(120))
        #expect(ConfigurationValue.duration("0") == .zero)
        #expect(ConfigurationValue.duration("5") == nil)
        #expect(ConfigurationValue.duration("5x") == nil)
        #expect(ConfigurationValue.duration("s") == nil)
        #expect(ConfigurationValue.duration("") == nil)
        #expect(ConfigurationValue.duration("-5s") == nil)
    }

    @Test("duration formatting")
    func format() {
        #expect(ConfigurationValue.format(.seconds(300)) == "5m")
        #expect(ConfigurationValue.format(.seconds(5400)) == "1h30m")
        #expect(ConfigurationValue.format(.seconds(432_000)) == "5d")
        #expect(ConfigurationValue.format(.milliseconds(500)) == "500ms")
        #expect(ConfigurationValue.format(.milliseconds(1500)) == "1.5s")
    }

    @Test("listen addresses")
    func listenAddresses() throws {
        #expect(try ListenAddress(parsing: "0.0.0.0:25") == ListenAddress(host: "0.0.0.0", port: 25))
        #expect(try ListenAddress(parsing: "[::]:587") == ListenAddress(host: "::", port: 587))
        #expect(try ListenAddress(parsing: "localhost:2525").description == "localhost:2525")
        #expect(try ListenAddress(parsing: "[::1]:25").description == "[::1]:25")
        #expect(throws: ListenAddress.ParseError.self) { try ListenAddress(parsing: ":25") }
        #expect(throws: ListenAddress.ParseError.self) { try ListenAddress(parsing: "[1.2.3.4]:25") }
        #expect(throws: ListenAddress.ParseError.self) { try ListenAddress(parsing: "host_name:25") }
        #expect(try ListenAddress(parsing: "127.0.0.1:0").port == 0)  // any free port
        #expect(throws: ListenAddress.ParseError.self) { try ListenAddress(parsing: "1.2.3.4:65536") }
    }
}
