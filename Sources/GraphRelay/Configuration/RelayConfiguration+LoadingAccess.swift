import GraphRelayGraph
import Foundation
import GraphRelayTLS
import Logging
import Yams

// Reading the `access` section of the configuration file (see RelayConfiguration+Loading.swift).
extension RelayConfiguration {
    /// The hash shipped in deploy/graph-relay.example.yaml (password 'change-me'): refused.
    static let examplePlaceholderHash = try! PasswordHash(
        parsing: "$scrypt$ln=15,r=8,p=1$a+XwHMo+SCKpEyZ6Y4rrqA$kQgaJi+GP/P29R6mB6INkXALHQKCLN8MrK+y0oYj0Kk"
    )

    mutating func readAccess(_ node: Node, _ reader: inout ConfigurationReader, _ context: inout ValidationContext) {
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
}
