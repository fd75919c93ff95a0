import GraphRelayGraph
import Foundation
import GraphRelayTLS
import Logging
import Yams

// Reading the `routes` section of the configuration file (see RelayConfiguration+Loading.swift).
extension RelayConfiguration {
    mutating func readRoutes(_ node: Node, _ reader: inout ConfigurationReader, _ context: inout ValidationContext) {
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
}
