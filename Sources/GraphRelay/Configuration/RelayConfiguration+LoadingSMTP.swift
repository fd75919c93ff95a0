import GraphRelayGraph
import Foundation
import GraphRelayTLS
import Logging
import Yams

// Reading the `smtp` and `tls` sections of the configuration file (see RelayConfiguration+Loading.swift).
extension RelayConfiguration {
    mutating func readSMTP(_ node: Node, _ reader: inout ConfigurationReader, _ context: inout ValidationContext) {
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
                var proxyProtocol = false
                if let value = listenerMap.take("proxyProtocol", &reader) {
                    proxyProtocol = reader.bool(value, "\(path).proxyProtocol") ?? false
                }
                var trustedProxies: [CIDRBlock] = []
                var trustedNode: Node?
                if let value = listenerMap.take("trustedProxies", &reader) {
                    trustedNode = value
                    trustedProxies = reader.cidrList(value, "\(path).trustedProxies") ?? []
                }
                if proxyProtocol, trustedProxies.isEmpty {
                    reader.error("\(path).trustedProxies", "required with proxyProtocol: true: the load balancers' addresses (CIDR), the only peers allowed to send the PROXY header", trustedNode ?? item)
                } else if !proxyProtocol, let trustedNode {
                    reader.error("\(path).trustedProxies", "has no effect without proxyProtocol: true", trustedNode)
                }
                listenerMap.finish(&reader)
                if var listener {
                    listener.proxyProtocol = proxyProtocol
                    listener.trustedProxies = trustedProxies
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
        if let value = map.take("proxyHeaderTimeout", &reader) {
            smtp.proxyHeaderTimeout = reader.duration(value, "smtp.proxyHeaderTimeout", minimum: .milliseconds(100), maximum: .seconds(300))
                ?? smtp.proxyHeaderTimeout
        }
        if let value = map.take("drainTimeout", &reader) {
            smtp.drainTimeout = reader.duration(value, "smtp.drainTimeout", minimum: .zero, maximum: .seconds(86_400)) ?? smtp.drainTimeout
        }
        if let value = map.take("maxJunkCommands", &reader) {
            smtp.maxJunkCommands = reader.int(value, "smtp.maxJunkCommands", range: 1...100_000) ?? smtp.maxJunkCommands
        }
        map.finish(&reader)
    }

    static func readTLS(_ node: Node, _ path: String, _ reader: inout ConfigurationReader) -> TLS? {
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

    static func readTLSVersion(_ node: Node, _ path: String, _ reader: inout ConfigurationReader) -> TLSVersion? {
        guard let text = reader.nonEmptyString(node, path) else { return nil }
        guard let version = TLSVersion(configurationValue: text) else {
            reader.error(path, "'\(text)' is not a TLS version (1.0, 1.1, 1.2, 1.3)", node)
            return nil
        }
        return version
    }
}
