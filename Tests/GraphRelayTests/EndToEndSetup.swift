import GraphEmulator

/// How the relay and its Graph are set up for one test.
struct EndToEndSetup: Sendable {
    enum Credential: Sendable {
        case secret(String)
        /// `certificate: { certificate, privateKey }` (PEM files).
        case certificate(certificate: String, privateKey: String)
    }

    /// What the relay presents to Entra ID.
    var credential = Credential.secret(EndToEnd.clientSecret)
    /// `access.networks`.
    var trustedNetworks = ["127.0.0.0/8"]
    /// `allowedSenders` of the one AUTH user, `nil` for any sender.
    var allowedSenders: [String]? = ["*@\(EndToEnd.domain)"]
    /// More keys of the implicit-TLS listener, as YAML flow-mapping entries (`allowLegacyProtocols: true`).
    var implicitListenerKeys: [String] = []
    /// More `spool` keys, as YAML flow-mapping entries (`minimumFreeSpace: 1GB`).
    var spoolKeys: [String] = []
    /// More `access` keys, one YAML line each (`authFailureLimit: 3`).
    var accessKeys: [String] = []
    /// `routes`, as YAML flow mappings.
    var routes = [#"{ sender: "*@\#(EndToEnd.domain)", application: contoso, mailbox: sender }"#]
    /// More top-level sections (`graph`, `scheduler`, ...) as YAML.
    var extraYAML = "graph: { connectTimeout: 5s, requestTimeout: 15s }"
    /// The `admin` mapping (flow YAML): loopback, a free port.
    var admin = #"{ address: "127.0.0.1:0" }"#
    /// Mailboxes that exist in the emulated tenant.
    var mailboxes = ["scanner@\(EndToEnd.domain)", "alice@\(EndToEnd.domain)"].map { GraphEmulatorConfiguration.Mailbox($0) }
    /// Last changes to the emulator's configuration (faults are injected at run time instead).
    var emulator: @Sendable (inout GraphEmulatorConfiguration) -> Void = { _ in }
}
