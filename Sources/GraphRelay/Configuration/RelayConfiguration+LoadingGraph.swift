import GraphRelayGraph
import Foundation
import GraphRelayTLS
import Logging
import Yams

// Reading the `graph` section of the configuration file (see RelayConfiguration+Loading.swift).
extension RelayConfiguration {
    mutating func readGraph(_ node: Node?, _ reader: inout ConfigurationReader) {
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
}
