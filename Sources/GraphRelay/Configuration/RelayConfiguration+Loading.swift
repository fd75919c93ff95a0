import GraphRelayGraph
import Foundation
import GraphRelayTLS
import Logging
import Yams

extension RelayConfiguration {
    /// Loads and validates a configuration file. Relative paths inside it are resolved against
    /// the file's directory; `{ env: … }` values against `environment`.
    ///
    /// - Throws: ``ConfigurationError`` listing every problem with its key path and line.
    public static func load(
        contentsOfFile path: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> RelayConfiguration {
        let absolute = path.hasPrefix("/") ? path
            : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(path)
        guard let data = FileManager.default.contents(atPath: absolute) else {
            let reason = FileManager.default.fileExists(atPath: absolute) ? "permission denied" : "no such file"
            throw ConfigurationError(file: path, issues: [ConfigurationIssue(path: "", message: "cannot read the configuration file: \(reason)")])
        }
        guard let yaml = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(file: path, issues: [ConfigurationIssue(path: "", message: "the configuration file is not UTF-8 text")])
        }
        var configuration = try parse(
            yaml: yaml,
            baseDirectory: (absolute as NSString).deletingLastPathComponent,
            environment: environment,
            file: path
        )
        if let exposure = FileExposure(path: absolute) {
            configuration.warnings.insert(ConfigurationIssue(path: "", message: "the configuration file \(exposure.describe(absolute))"), at: 0)
        }
        return configuration
    }

    /// Parses and validates configuration YAML.
    ///
    /// - Parameters:
    ///   - baseDirectory: where relative paths are resolved (`nil`: the working directory).
    ///   - environment: for `{ env: NAME }` secrets, `https_proxy`/`no_proxy` and the workload
    ///     identity variables.
    ///   - file: the file name used in the error report.
    public static func parse(
        yaml: String,
        baseDirectory: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        file: String? = nil
    ) throws(ConfigurationError) -> RelayConfiguration {
        var reader = ConfigurationReader(environment: environment, baseDirectory: baseDirectory)
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw ConfigurationError(file: file, issues: [RelayConfiguration.issue(for: error)])
        } catch {
            throw ConfigurationError(file: file, issues: [ConfigurationIssue(path: "", message: "YAML error: \(error)")])
        }
        guard let root, !ConfigurationReader.isNull(root) else {
            throw ConfigurationError(file: file, issues: [ConfigurationIssue(path: "", message: "the configuration is empty")])
        }
        var configuration = RelayConfiguration()
        var context = ValidationContext()
        context.fromFile = true
        guard var top = reader.mapping(root, "") else {
            throw ConfigurationError(file: file, issues: reader.issues)
        }
        context.tlsDeclared = top.has("tls")
        configuration.read(&top, &reader, &context)
        top.finish(&reader)
        let report = configuration.validate(context: context)
        for issue in report.errors {
            reader.issues.append(issue.line == nil ? ConfigurationIssue(path: issue.path, message: issue.message, line: reader.lines[issue.path]) : issue)
        }
        for issue in report.warnings {
            reader.warnings.append(issue.line == nil ? ConfigurationIssue(path: issue.path, message: issue.message, line: reader.lines[issue.path]) : issue)
        }
        if !reader.issues.isEmpty {
            // File order; problems of a whole section (no line) first. Stable for equal lines.
            let ordered = reader.issues.enumerated().sorted {
                ($0.element.line ?? 0, $0.offset) < ($1.element.line ?? 0, $1.offset)
            }.map(\.element)
            throw ConfigurationError(file: file, issues: ordered)
        }
        configuration.warnings = reader.warnings
        return configuration
    }

    static func issue(for error: YamlError) -> ConfigurationIssue {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return ConfigurationIssue(path: "", message: "YAML syntax error: \(problem) (column \(mark.column))", line: mark.line)
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            return ConfigurationIssue(path: "", message: "duplicate key \(keys) in the same mapping", line: context.mark.line)
        case .reader(let problem, _, _, _):
            return ConfigurationIssue(path: "", message: "cannot read YAML: \(problem)")
        default:
            return ConfigurationIssue(path: "", message: "YAML error: \(error)")
        }
    }

    // MARK: Sections

    private mutating func read(_ top: inout ConfigurationReader.Mapping, _ reader: inout ConfigurationReader, _ context: inout ValidationContext) {
        if let node = top.take("tls", &reader) { tls = Self.readTLS(node, "tls", &reader) }
        if let node = top.take("smtp", &reader) { readSMTP(node, &reader, &context) } else {
            smtp.listeners = [Listener(address: ListenAddress(host: "0.0.0.0", port: 25), tls: context.tlsDeclared ? .starttls : .none)]
        }
        if let node = top.take("access", &reader) { readAccess(node, &reader, &context) }
        if let node = top.take("applications", &reader) { readApplications(node, &reader, &context) }
        if let node = top.take("routes", &reader) { readRoutes(node, &reader, &context) }
        if let node = top.take("delivery", &reader), let mode = reader.choice(node, "delivery", DeliveryMode.self) {
            delivery = mode
        }
        if let node = top.take("spool", &reader) { readSpool(node, &reader) }
        if let node = top.take("scheduler", &reader), var map = reader.mapping(node, "scheduler") {
            if let value = map.take("concurrencyPerMailbox", &reader) {
                scheduler.concurrencyPerMailbox = reader.int(value, "scheduler.concurrencyPerMailbox", range: 1...4)
                    ?? scheduler.concurrencyPerMailbox
            }
            if let value = map.take("messagesPerMinute", &reader) {
                scheduler.messagesPerMinute = reader.int(value, "scheduler.messagesPerMinute", range: 1...10_000)
                    ?? scheduler.messagesPerMinute
            }
            if let value = map.take("uploadLimit", &reader) {
                scheduler.uploadLimit = reader.byteSize(value, "scheduler.uploadLimit", range: 0...(1 << 40)) ?? scheduler.uploadLimit
            }
            map.finish(&reader)
        }
        if let node = top.take("bounces", &reader), var map = reader.mapping(node, "bounces") {
            if let value = map.take("enabled", &reader) { bounces.enabled = reader.bool(value, "bounces.enabled") ?? true }
            if let value = map.take("adminAddress", &reader) { bounces.adminAddress = reader.address(value, "bounces.adminAddress") }
            map.finish(&reader)
        }
        readGraph(top.take("graph", &reader), &reader)
        if graph.sendVia == .sendMail && !context.maxMessageSizeGiven {
            smtp.maxMessageSize = Self.sendMailMessageSizeLimit
        }
        if let node = top.take("emulator", &reader) {
            reader.error("emulator", "is no longer a configuration key: run the graph-emulator executable (development and tests only) and point the application's loginEndpoint, graphEndpoint and caFile at it", node)
        }
        if let node = top.take("logging", &reader), var map = reader.mapping(node, "logging") {
            if let value = map.take("level", &reader), let level = reader.choice(value, "logging.level", Logger.Level.self) {
                logging.level = level
            }
            map.finish(&reader)
        }
    }

    private mutating func readSMTP(_ node: Node, _ reader: inout ConfigurationReader, _ context: inout ValidationContext) {
        guard var map = reader.mapping(node, "smtp") else { return }
        if let value = map.take("hostname", &reader), let hostname = reader.nonEmptyString(value, "smtp.hostname") {
            if ListenAddress.isHostName(hostname) {
                smtp.hostname = hostname
            } else {
                reader.error("smtp.hostname", "'\(hostname)' is not a valid host name (letters, digits, '-' and '.')", value)
            }
        }
        let defaultTLS: ListenerTLSMode = context.tlsDeclared ? .starttls : .none
        if let value = map.take("listeners", &reader), let items = reader.sequence(value, "smtp.listeners") {
            smtp.listeners = []
            context.listenerItems = items.count
            for (index, item) in items.enumerated() {
                let path = "smtp.listeners[\(index)]"
                guard var listenerMap = reader.mapping(item, path) else { continue }
                var listener: Listener?
                if let addressNode = listenerMap.take("address", &reader) {
                    if let text = reader.nonEmptyString(addressNode, "\(path).address") {
                        do {
                            listener = Listener(address: try ListenAddress(parsing: text), tls: defaultTLS)
                        } catch {
                            reader.error("\(path).address", error.description, addressNode)
                        }
                    }
                } else {
                    reader.error(path, "missing required key 'address' (host:port, e.g. 0.0.0.0:25)", item)
                }
                var tlsMode = defaultTLS
                if let tlsNode = listenerMap.take("tls", &reader) {
                    tlsMode = reader.choice(tlsNode, "\(path).tls", ListenerTLSMode.self) ?? defaultTLS
                }
                var allowPlaintextAuth = false
                if let value = listenerMap.take("allowPlaintextAuth", &reader) {
                    allowPlaintextAuth = reader.bool(value, "\(path).allowPlaintextAuth") ?? false
                }
                var requireTLS = false
                if let value = listenerMap.take("requireTLS", &reader) {
                    requireTLS = reader.bool(value, "\(path).requireTLS") ?? false
                }
                var lineEndings = LineEndingPolicy.strict
                if let value = listenerMap.take("lineEndings", &reader) {
                    lineEndings = reader.choice(value, "\(path).lineEndings", LineEndingPolicy.self) ?? .strict
                }
                var requireHeaderFromMatch = false
                if let value = listenerMap.take("requireHeaderFromMatch", &reader) {
                    requireHeaderFromMatch = reader.bool(value, "\(path).requireHeaderFromMatch") ?? false
                }
                var legacyTLS = false
                if let value = listenerMap.take("allowLegacyProtocols", &reader) {
                    legacyTLS = reader.bool(value, "\(path).allowLegacyProtocols") ?? false
                }
                listenerMap.finish(&reader)
                if var listener {
                    listener.tls = tlsMode
                    listener.allowPlaintextAuth = allowPlaintextAuth
                    listener.requireTLS = requireTLS
                    listener.lineEndings = lineEndings
                    listener.requireHeaderFromMatch = requireHeaderFromMatch
                    listener.allowLegacyProtocols = legacyTLS
                    smtp.listeners.append(listener)
                    context.listenerIndices.append(index)
                }
            }
        } else {
            smtp.listeners = [Listener(address: ListenAddress(host: "0.0.0.0", port: 25), tls: defaultTLS)]
        }
        if let value = map.take("maxMessageSize", &reader) {
            smtp.maxMessageSize = reader.byteSize(value, "smtp.maxMessageSize", range: 1_000...157_286_400) ?? smtp.maxMessageSize
            context.maxMessageSizeGiven = true
        }
        if let value = map.take("maxHeaderSize", &reader) {
            smtp.maxHeaderSize = reader.byteSize(value, "smtp.maxHeaderSize", range: 4_096...4_194_304) ?? smtp.maxHeaderSize
        }
        if let value = map.take("maxRecipients", &reader) {
            smtp.maxRecipients = reader.int(value, "smtp.maxRecipients", range: 1...1000) ?? smtp.maxRecipients
        }
        if let value = map.take("maxConnections", &reader) {
            smtp.maxConnections = reader.int(value, "smtp.maxConnections", range: 1...100_000) ?? smtp.maxConnections
        }
        if let value = map.take("commandTimeout", &reader) {
            smtp.commandTimeout = reader.duration(value, "smtp.commandTimeout", minimum: .seconds(1), maximum: .seconds(3600))
                ?? smtp.commandTimeout
        }
        if let value = map.take("minimumDataRate", &reader) {
            smtp.minimumDataRate = reader.int(value, "smtp.minimumDataRate", range: 1...1_000_000_000) ?? smtp.minimumDataRate
        }
        if let value = map.take("maxConnectionsPerClient", &reader) {
            smtp.maxConnectionsPerClient = reader.int(value, "smtp.maxConnectionsPerClient", range: 1...100_000)
                ?? smtp.maxConnectionsPerClient
        }
        if let value = map.take("maxSessionDuration", &reader) {
            smtp.maxSessionDuration = reader.duration(value, "smtp.maxSessionDuration", minimum: .seconds(10), maximum: .seconds(86_400))
                ?? smtp.maxSessionDuration
        }
        if let value = map.take("maxDataDuration", &reader) {
            smtp.maxDataDuration = reader.duration(value, "smtp.maxDataDuration", minimum: .seconds(10), maximum: .seconds(86_400))
                ?? smtp.maxDataDuration
        }
        if let value = map.take("maxJunkCommands", &reader) {
            smtp.maxJunkCommands = reader.int(value, "smtp.maxJunkCommands", range: 1...100_000) ?? smtp.maxJunkCommands
        }
        map.finish(&reader)
    }

    private static func readTLS(_ node: Node, _ path: String, _ reader: inout ConfigurationReader) -> TLS? {
        let issuesBefore = reader.issues.count
        guard var map = reader.mapping(node, path) else { return nil }
        let certificate = map.take("certificate", &reader).flatMap { reader.pem($0, "tls.certificate", expecting: .certificate) }
        let privateKey = map.take("privateKey", &reader).flatMap { reader.pem($0, "tls.privateKey", expecting: .privateKey) }
        if !map.has("certificate") { reader.error(path, "missing required key 'certificate' (PEM certificate chain)", node) }
        if !map.has("privateKey") { reader.error(path, "missing required key 'privateKey' (PEM private key)", node) }
        var allowLegacy = false
        if let value = map.take("allowLegacyProtocols", &reader) {
            allowLegacy = reader.bool(value, "tls.allowLegacyProtocols") ?? false
        }
        var minimum: TLSVersion = allowLegacy ? .tls1_0 : .tls1_2
        var minimumValid = true
        if let value = map.take("minimumVersion", &reader) {
            if let parsed = readTLSVersion(value, "tls.minimumVersion", &reader) {
                minimum = parsed
                if parsed < .tls1_2 && !allowLegacy {
                    reader.error("tls.minimumVersion", "\(parsed) is a legacy protocol; it needs tls.allowLegacyProtocols: true (for old devices only)", value)
                }
            } else {
                minimumValid = false
            }
        }
        var maximum: TLSVersion?
        if let value = map.take("maximumVersion", &reader) {
            maximum = readTLSVersion(value, "tls.maximumVersion", &reader)
            if let maximum, minimumValid, maximum < minimum {
                reader.error("tls.maximumVersion", "\(maximum) is lower than the minimum version \(minimum)", value)
            }
        }
        let cipherList = map.take("cipherList", &reader).flatMap { reader.nonEmptyString($0, "tls.cipherList") }
        let cipherSuites = map.take("cipherSuites", &reader).flatMap { reader.nonEmptyString($0, "tls.cipherSuites") }
        var handshakeTimeout = Duration.seconds(10)
        if let value = map.take("handshakeTimeout", &reader) {
            handshakeTimeout = reader.duration(value, "tls.handshakeTimeout", minimum: .milliseconds(100), maximum: .seconds(300))
                ?? handshakeTimeout
        }
        map.finish(&reader)
        guard let certificate, let privateKey, reader.issues.count == issuesBefore else { return nil }
        var tls = TLS(certificate: certificate, privateKey: privateKey)
        tls.minimumVersion = minimum
        tls.maximumVersion = maximum
        tls.allowLegacyProtocols = allowLegacy
        tls.cipherList = cipherList
        tls.cipherSuites = cipherSuites
        tls.handshakeTimeout = handshakeTimeout
        // Let OpenSSL check the material: key matches certificate, cipher strings are valid.
        do {
            _ = try TLSContext(configuration: tls.serverConfiguration, role: .server)
        } catch {
            reader.error(path, "OpenSSL refused the TLS settings: \(error)", node)
            return nil
        }
        return tls
    }

    private static func readTLSVersion(_ node: Node, _ path: String, _ reader: inout ConfigurationReader) -> TLSVersion? {
        guard let text = reader.nonEmptyString(node, path) else { return nil }
        guard let version = TLSVersion(configurationValue: text) else {
            reader.error(path, "'\(text)' is not a TLS version (1.0, 1.1, 1.2, 1.3)", node)
            return nil
        }
        return version
    }

    /// The hash shipped in deploy/graph-relay.example.yaml (password 'change-me'): refused.
    static let examplePlaceholderHash = try! PasswordHash(
        parsing: "$scrypt$ln=15,r=8,p=1$a+XwHMo+SCKpEyZ6Y4rrqA$kQgaJi+GP/P29R6mB6INkXALHQKCLN8MrK+y0oYj0Kk"
    )

    private mutating func readAccess(_ node: Node, _ reader: inout ConfigurationReader, _ context: inout ValidationContext) {
        guard var map = reader.mapping(node, "access") else { return }
        if let value = map.take("networks", &reader) {
            context.networkItems = max(1, (value.sequence?.count ?? 1))
            access.networks = reader.cidrList(value, "access.networks") ?? []
        }
        if let value = map.take("authFailureLimit", &reader) {
            access.authFailureLimit = reader.int(value, "access.authFailureLimit", range: 0...10_000) ?? access.authFailureLimit
        }
        if let value = map.take("authFailureWindow", &reader) {
            access.authFailureWindow = reader.duration(value, "access.authFailureWindow", minimum: .seconds(10), maximum: .seconds(86_400))
                ?? access.authFailureWindow
        }
        if let value = map.take("authCacheTime", &reader) {
            access.authCacheTime = reader.duration(value, "access.authCacheTime", maximum: .seconds(86_400)) ?? access.authCacheTime
        }
        let usersNode = map.take("users", &reader)
        if let usersNode { context.userItems = max(1, usersNode.sequence?.count ?? 1) }
        if let usersNode, let items = reader.sequence(usersNode, "access.users") {
            for (index, item) in items.enumerated() {
                let path = "access.users[\(index)]"
                guard var userMap = reader.mapping(item, path) else { continue }
                var name: String?
                if let nameNode = userMap.take("name", &reader) {
                    name = reader.nonEmptyString(nameNode, "\(path).name")
                    if let name { context.declaredUsers.append(name) }
                } else {
                    reader.error(path, "missing required key 'name'", item)
                }
                var hash: PasswordHash?
                if let hashNode = userMap.take("passwordHash", &reader) {
                    if let secret = reader.secret(hashNode, "\(path).passwordHash") {
                        do {
                            hash = try PasswordHash(parsing: secret.revealedValue)
                        } catch {
                            reader.error("\(path).passwordHash", "\(error); create one with 'graph-relay hash-password'", hashNode)
                        }
                        if let parsed = hash, let weakness = parsed.weakness {
                            reader.error("\(path).passwordHash", "\(weakness); create a new one with 'graph-relay hash-password'", hashNode)
                            hash = nil
                        } else if hash?.salt == Self.examplePlaceholderHash.salt {
                            reader.error("\(path).passwordHash", "this is the example configuration's placeholder, whose password ('change-me') "
                                + "is published; create your own with 'graph-relay hash-password'", hashNode)
                            hash = nil
                        }
                    }
                } else {
                    reader.error(path, "missing required key 'passwordHash' (create one with 'graph-relay hash-password')", item)
                }
                var allowedSenders: [SenderPattern]?
                if let sendersNode = userMap.take("allowedSenders", &reader) {
                    allowedSenders = reader.senderPatterns(sendersNode, "\(path).allowedSenders")
                    if case .sequence(let list) = sendersNode, list.isEmpty {
                        reader.error("\(path).allowedSenders", "an empty list allows no sender at all; remove the key to allow any sender", sendersNode)
                    }
                }
                userMap.finish(&reader)
                if let name, let hash {
                    access.users.append(User(name: name, passwordHash: hash, allowedSenders: allowedSenders))
                    context.userIndices.append(index)
                }
            }
        }
        map.finish(&reader)
    }

    private mutating func readApplications(_ node: Node, _ reader: inout ConfigurationReader, _ context: inout ValidationContext) {
        guard let items = reader.sequence(node, "applications") else {
            context.applicationsReported = true
            return
        }
        context.applicationItems = items.count
        for (index, item) in items.enumerated() {
            let path = "applications[\(index)]"
            if let application = Self.readApplication(item, path, &reader, &context) {
                applications.append(application)
                context.applicationIndices.append(index)
            }
        }
    }

    private static func readApplication(
        _ node: Node, _ path: String, _ reader: inout ConfigurationReader, _ context: inout ValidationContext
    ) -> Application? {
        guard var map = reader.mapping(node, path) else { return nil }
        var name: String?
        if let value = map.take("name", &reader) {
            name = reader.nonEmptyString(value, "\(path).name")
            if let name { context.declaredApplications.append(name) }
        } else {
            reader.error(path, "missing required key 'name'", node)
        }
        var cloud = GraphCloud.global
        if let value = map.take("cloud", &reader) {
            cloud = reader.choice(value, "\(path).cloud", GraphCloud.self) ?? .global
        }

        // Credential: exactly one.
        let credentialKeys = ["clientSecret", "certificate", "workloadIdentity"].filter { map.has($0) }
        var credential: Credential?
        var isWorkloadIdentity = false
        var workloadIdentityInvalid = false
        if credentialKeys.count > 1 {
            reader.error(path, "\(credentialKeys.map { "'\($0)'" }.joined(separator: " and ")) are mutually exclusive; give exactly one credential", node)
        }
        if let value = map.take("clientSecret", &reader), credentialKeys.count == 1 {
            credential = reader.secret(value, "\(path).clientSecret").map { .clientSecret($0) }
        }
        if let value = map.take("certificate", &reader), credentialKeys.count == 1, var certificateMap = reader.mapping(value, "\(path).certificate") {
            let certificate = certificateMap.take("certificate", &reader)
                .flatMap { reader.pem($0, "\(path).certificate.certificate", expecting: .certificate) }
            let privateKey = certificateMap.take("privateKey", &reader)
                .flatMap { reader.pem($0, "\(path).certificate.privateKey", expecting: .privateKey) }
            if !certificateMap.has("certificate") { reader.error("\(path).certificate", "missing required key 'certificate' (PEM certificate)", value) }
            if !certificateMap.has("privateKey") { reader.error("\(path).certificate", "missing required key 'privateKey' (PEM private key)", value) }
            certificateMap.finish(&reader)
            if let certificate, let privateKey { credential = .certificate(certificate: certificate, privateKey: privateKey) }
        }
        if let value = map.take("workloadIdentity", &reader), credentialKeys.count == 1 {
            var tokenFile = reader.environment["AZURE_FEDERATED_TOKEN_FILE"]
            var enabled = true
            if case .mapping = value, var wiMap = reader.mapping(value, "\(path).workloadIdentity") {
                if let fileNode = wiMap.take("tokenFile", &reader) {
                    tokenFile = reader.nonEmptyString(fileNode, "\(path).workloadIdentity.tokenFile").map { reader.resolve(path: $0) }
                }
                wiMap.finish(&reader)
            } else if let flag = reader.bool(value, "\(path).workloadIdentity") {
                enabled = flag
            } else {
                enabled = false
                workloadIdentityInvalid = true
            }
            if enabled {
                isWorkloadIdentity = true
                if let tokenFile, !tokenFile.isEmpty {
                    credential = .workloadIdentity(tokenFile: tokenFile)
                } else {
                    reader.error("\(path).workloadIdentity", "no token file: set AZURE_FEDERATED_TOKEN_FILE or workloadIdentity.tokenFile", value)
                }
            }
        }
        if credentialKeys.isEmpty {
            reader.error(path, "a credential is required: clientSecret, certificate or workloadIdentity", node)
        } else if credentialKeys == ["workloadIdentity"], !isWorkloadIdentity, !workloadIdentityInvalid {
            reader.error("\(path).workloadIdentity", "is false, so the application has no credential; use clientSecret, certificate or workloadIdentity: true", node)
        }

        func identifier(_ key: String, environmentName: String, validate: (String) -> String?) -> String? {
            var value: String?
            if let valueNode = map.take(key, &reader) {
                value = reader.nonEmptyString(valueNode, "\(path).\(key)")
                if let text = value, let problem = validate(text) {
                    reader.error("\(path).\(key)", problem, valueNode)
                    value = nil
                }
            } else if isWorkloadIdentity, let fromEnvironment = reader.environment[environmentName], !fromEnvironment.isEmpty {
                value = fromEnvironment
                if let problem = validate(fromEnvironment) {
                    reader.error("\(path).\(key)", "\(environmentName): \(problem)", node)
                    value = nil
                }
            } else {
                reader.error(path, "missing required key '\(key)'" + (isWorkloadIdentity ? " (or set \(environmentName))" : ""), node)
            }
            return value
        }
        let tenantId = identifier("tenantId", environmentName: "AZURE_TENANT_ID") { text in
            let valid = text.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "."
            }
            return valid ? nil : "'\(text)' is not a tenant ID (a GUID or a domain such as contoso.onmicrosoft.com)"
        }
        let clientId = identifier("clientId", environmentName: "AZURE_CLIENT_ID") { text in
            UUID(uuidString: text) == nil ? "'\(text)' is not a GUID (the Application (client) ID of the app registration)" : nil
        }

        func endpoint(_ key: String) -> ServiceEndpoint? {
            guard let value = map.take(key, &reader), let text = reader.nonEmptyString(value, "\(path).\(key)") else { return nil }
            do {
                return try ServiceEndpoint(parsing: text)
            } catch {
                reader.error("\(path).\(key)", error.description, value)
                return nil
            }
        }
        var loginEndpoint = endpoint("loginEndpoint")
        let graphEndpoint = endpoint("graphEndpoint")
        if loginEndpoint == nil, !map.has("loginEndpoint"), isWorkloadIdentity,
           let authority = reader.environment["AZURE_AUTHORITY_HOST"], !authority.isEmpty {
            do {
                loginEndpoint = try ServiceEndpoint(parsing: authority)
            } catch {
                reader.error("\(path).loginEndpoint", "AZURE_AUTHORITY_HOST: \(error)", node)
            }
        }
        let caFile = map.take("caFile", &reader).flatMap { reader.pem($0, "\(path).caFile", expecting: .certificate) }
        map.finish(&reader)

        guard let name, let tenantId, let clientId, let credential else { return nil }
        var application = Application(name: name, cloud: cloud, tenantId: tenantId, clientId: clientId, credential: credential)
        if let loginEndpoint { application.loginEndpoint = loginEndpoint }
        if let graphEndpoint { application.graphEndpoint = graphEndpoint }
        application.caFile = caFile
        return application
    }

    private mutating func readRoutes(_ node: Node, _ reader: inout ConfigurationReader, _ context: inout ValidationContext) {
        guard let items = reader.sequence(node, "routes") else {
            context.routesReported = true
            return
        }
        context.routeItems = items.count
        if items.isEmpty {
            reader.error("routes", "at least one route is required", node)
            context.routesReported = true
        }
        for (index, item) in items.enumerated() {
            let path = "routes[\(index)]"
            guard var map = reader.mapping(item, path) else { continue }
            var sender: SenderPattern?
            if let value = map.take("sender", &reader) {
                if let text = reader.nonEmptyString(value, "\(path).sender") {
                    do {
                        sender = try SenderPattern(parsing: text)
                    } catch {
                        reader.error("\(path).sender", error.description, value)
                    }
                }
            } else {
                reader.error(path, "missing required key 'sender' (an address, *@domain or *)", item)
            }
            var application: String?
            if let value = map.take("application", &reader) {
                application = reader.nonEmptyString(value, "\(path).application")
            } else {
                reader.error(path, "missing required key 'application'", item)
            }
            var mailbox: MailboxSelection?
            if let value = map.take("mailbox", &reader) {
                if let text = reader.nonEmptyString(value, "\(path).mailbox") {
                    if text.lowercased() == "sender" {
                        mailbox = .sender
                    } else if MailAddress.isValidAddrSpec(text) {
                        mailbox = .address(text)
                    } else {
                        reader.error("\(path).mailbox", "'\(text)' is neither an email address nor 'sender'", value)
                    }
                }
            } else {
                reader.error(path, "missing required key 'mailbox' (an address, or 'sender' to send as the envelope sender)", item)
            }
            var rewriteFrom = false
            if let value = map.take("rewriteFrom", &reader) { rewriteFrom = reader.bool(value, "\(path).rewriteFrom") ?? false }
            var requireHeaderFromMatch = false
            if let value = map.take("requireHeaderFromMatch", &reader) {
                requireHeaderFromMatch = reader.bool(value, "\(path).requireHeaderFromMatch") ?? false
            }
            var users: [String]?
            if let value = map.take("authenticatedUser", &reader) {
                users = reader.stringOrList(value, "\(path).authenticatedUser")
            }
            var networks: [CIDRBlock]?
            if let value = map.take("clientNetworks", &reader) {
                networks = reader.cidrList(value, "\(path).clientNetworks")
                if case .sequence(let list) = value, list.isEmpty {
                    reader.error("\(path).clientNetworks", "an empty list matches no client; remove the key to match any client", value)
                }
            }
            map.finish(&reader)
            if let sender, let application, let mailbox {
                var route = Route(sender: sender, application: application, mailbox: mailbox, rewriteFrom: rewriteFrom)
                route.authenticatedUsers = users
                route.clientNetworks = networks
                route.requireHeaderFromMatch = requireHeaderFromMatch
                routes.append(route)
                context.routeIndices.append(index)
            }
        }
    }

    private mutating func readSpool(_ node: Node, _ reader: inout ConfigurationReader) {
        guard var map = reader.mapping(node, "spool") else { return }
        if let value = map.take("directory", &reader), let directory = reader.nonEmptyString(value, "spool.directory") {
            spool.directory = reader.resolve(path: directory)
        }
        if let value = map.take("minimumFreeSpace", &reader) {
            spool.minimumFreeSpace = reader.byteSize(value, "spool.minimumFreeSpace", range: 0...Int.max) ?? spool.minimumFreeSpace
        }
        if let value = map.take("retry", &reader), var retryMap = reader.mapping(value, "spool.retry") {
            if let node = retryMap.take("initial", &reader) {
                spool.retry.initial = reader.duration(node, "spool.retry.initial", minimum: .milliseconds(100)) ?? spool.retry.initial
            }
            if let node = retryMap.take("maximum", &reader) {
                spool.retry.maximum = reader.duration(node, "spool.retry.maximum", minimum: .milliseconds(100)) ?? spool.retry.maximum
            }
            if let node = retryMap.take("lifetime", &reader) {
                spool.retry.lifetime = reader.duration(node, "spool.retry.lifetime", minimum: .seconds(1), maximum: .seconds(30 * 86_400))
                    ?? spool.retry.lifetime
            }
            if let node = retryMap.take("multiplier", &reader) {
                spool.retry.multiplier = reader.double(node, "spool.retry.multiplier", range: 1...10) ?? spool.retry.multiplier
            }
            retryMap.finish(&reader)
        }
        map.finish(&reader)
    }

    private mutating func readGraph(_ node: Node?, _ reader: inout ConfigurationReader) {
        var map = node.flatMap { reader.mapping($0, "graph") }
        var proxyText: (String, String, Node?)?   // text, source, node
        if let value = map?.take("proxy", &reader) {
            if let text = reader.nonEmptyString(value, "graph.proxy") { proxyText = (text, "graph.proxy", value) }
        } else if map?.has("proxy") != true {
            for name in ["https_proxy", "HTTPS_PROXY"] {
                if let text = reader.environment[name], !text.trimmingASCIIWhitespace().isEmpty {
                    proxyText = (text.trimmingASCIIWhitespace(), name, nil)
                    break
                }
            }
        }
        if let (text, source, proxyNode) = proxyText, text.lowercased() != "none" {
            // Environment proxies are often written without a scheme.
            let withScheme = text.contains("://") ? text : "http://\(text)"
            do {
                let endpoint = try ServiceEndpoint(parsing: withScheme, allowedSchemes: ["http"], allowCredentials: true)
                var proxy = Proxy(endpoint: endpoint, source: source)
                if let components = URLComponents(string: withScheme), let user = components.user {
                    proxy.username = user.removingPercentEncoding ?? user
                    proxy.password = components.password.map { Secret($0.removingPercentEncoding ?? $0, source: source == "graph.proxy" ? .literal : .environment(source)) }
                }
                graph.proxy = proxy
            } catch {
                let where_ = source == "graph.proxy" ? "" : "environment variable \(source): "
                reader.error("graph.proxy", where_ + error.description.replacingOccurrences(of: withScheme, with: Self.redactingCredentials(withScheme)), proxyNode)
            }
        }
        if let value = map?.take("noProxy", &reader) {
            graph.noProxy = reader.stringOrList(value, "graph.noProxy") ?? []
        } else if map?.has("noProxy") != true {
            for name in ["no_proxy", "NO_PROXY"] {
                if let text = reader.environment[name], !text.isEmpty {
                    graph.noProxy = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                    break
                }
            }
        }
        if let value = map?.take("connectTimeout", &reader) {
            graph.connectTimeout = reader.duration(value, "graph.connectTimeout", minimum: .milliseconds(100), maximum: .seconds(300))
                ?? graph.connectTimeout
        }
        if let value = map?.take("requestTimeout", &reader) {
            graph.requestTimeout = reader.duration(value, "graph.requestTimeout", minimum: .seconds(1), maximum: .seconds(3600))
                ?? graph.requestTimeout
        }
        if let value = map?.take("maxIdleConnectionsPerHost", &reader) {
            graph.maxIdleConnectionsPerHost = reader.int(value, "graph.maxIdleConnectionsPerHost", range: 1...256) ?? graph.maxIdleConnectionsPerHost
        }
        if let value = map?.take("maxConnectionsPerHost", &reader) {
            // The old name: it only ever limited the idle connections kept for reuse.
            if map?.has("maxIdleConnectionsPerHost") == true {
                reader.error("graph.maxConnectionsPerHost", "give only graph.maxIdleConnectionsPerHost (maxConnectionsPerHost is its deprecated name)", value)
            } else {
                reader.warning("graph.maxConnectionsPerHost", "deprecated: rename it to graph.maxIdleConnectionsPerHost (it limits the idle connections kept per host, not the connections in use)", value)
                graph.maxIdleConnectionsPerHost = reader.int(value, "graph.maxConnectionsPerHost", range: 1...256) ?? graph.maxIdleConnectionsPerHost
            }
        }
        if let value = map?.take("sendVia", &reader) {
            // Accepted in any case (`sendmail`, `sendMail`, `SENDMAIL`).
            let text = reader.string(value, "graph.sendVia")?.trimmingASCIIWhitespace().lowercased()
            if let text, let choice = SendVia.allCases.first(where: { $0.rawValue.lowercased() == text }) {
                graph.sendVia = choice
            } else if let text {
                reader.error("graph.sendVia", "'\(text)' is not one of: \(SendVia.allCases.map(\.rawValue).joined(separator: ", "))", value)
            }
        }
        if let value = map?.take("largeMessageFormat", &reader), let format = reader.choice(value, "graph.largeMessageFormat", LargeMessageFormat.self) {
            graph.largeMessageFormat = format
        }
        map?.finish(&reader)
    }

    static func redactingCredentials(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://"), let at = url[schemeEnd.upperBound...].firstIndex(of: "@") else { return url }
        return String(url[..<schemeEnd.upperBound]) + "***@" + String(url[url.index(after: at)...])
    }
}
