import Foundation
import GraphRelayGraph
import Yams

// Reading `applications[].managedIdentity` (see RelayConfiguration+LoadingApplications.swift).
extension RelayConfiguration {
    /// `managedIdentity: true` (the system-assigned identity, or the VM's only user-assigned
    /// one) or `{ clientId | objectId | resourceId: …, endpoint: URL }`. `nil` after an error,
    /// or for `false`, which leaves the application without a credential (an error too).
    static func readManagedIdentity(_ node: Node, _ path: String, _ reader: inout ConfigurationReader) -> ManagedIdentity? {
        guard case .mapping = node else {
            guard let enabled = reader.bool(node, path) else { return nil }
            if !enabled {
                reader.error(path, "is false, so the application has no credential; use managedIdentity: true, clientSecret, certificate or workloadIdentity", node)
                return nil
            }
            return ManagedIdentity()
        }
        guard var map = reader.mapping(node, path) else { return nil }
        var identity = ManagedIdentity()
        var valid = true
        let named = ["clientId", "objectId", "resourceId"].filter { map.has($0) }
        if named.count > 1 {
            reader.error(path, "\(named.map { "'\($0)'" }.joined(separator: " and ")) are mutually exclusive; name the user-assigned identity once", node)
            valid = false
        }
        for key in ["clientId", "objectId"] {
            guard let value = map.take(key, &reader) else { continue }
            guard let text = reader.nonEmptyString(value, "\(path).\(key)") else { valid = false; continue }
            guard UUID(uuidString: text) != nil else {
                let what = key == "clientId" ? "Client ID" : "Object (principal) ID"
                reader.error("\(path).\(key)", "'\(text)' is not a GUID (the user-assigned identity's \(what))", value)
                valid = false
                continue
            }
            identity.identity = key == "clientId" ? .clientID(text) : .objectID(text)
        }
        if let value = map.take("resourceId", &reader) {
            if let text = reader.nonEmptyString(value, "\(path).resourceId") {
                let lowered = text.lowercased()
                if lowered.hasPrefix("/subscriptions/"), lowered.contains("/providers/microsoft.managedidentity/userassignedidentities/") {
                    identity.identity = .resourceID(text)
                } else {
                    reader.error("\(path).resourceId", "'\(text)' is not the resource ID of a user-assigned identity (/subscriptions/…/providers/Microsoft.ManagedIdentity/userAssignedIdentities/NAME)", value)
                    valid = false
                }
            } else {
                valid = false
            }
        }
        if let value = map.take("endpoint", &reader) {
            if let endpoint = Self.managedIdentityEndpoint(value, "\(path).endpoint", &reader) {
                identity.endpoint = endpoint
            } else {
                valid = false
            }
        }
        map.finish(&reader)
        return valid ? identity : nil
    }

    /// The instance metadata endpoint: `https://`, or `http://` to a link-local or loopback
    /// address (the service itself is plain HTTP on 169.254.169.254; tests use loopback).
    private static func managedIdentityEndpoint(_ node: Node, _ path: String, _ reader: inout ConfigurationReader) -> String? {
        guard let text = reader.nonEmptyString(node, path) else { return nil }
        let endpoint: ServiceEndpoint
        do {
            endpoint = try ServiceEndpoint(parsing: text, allowedSchemes: ["https", "http"])
        } catch {
            reader.error(path, error.description, node)
            return nil
        }
        if endpoint.scheme == "http" {
            let address = IPAddress(endpoint.host)
            guard endpoint.host == "localhost" || address?.isLoopback == true || address?.isLinkLocal == true else {
                reader.error(path, "'\(text)': http:// only to the link-local instance metadata address (169.254.169.254) or loopback; use https:// otherwise", node)
                return nil
            }
        }
        return endpoint.url
    }

    /// Why `key` has no place beside `managedIdentity`.
    static func notUsedWithManagedIdentity(_ key: String) -> String {
        switch key {
        case "clientId": "is not used with managedIdentity; name a user-assigned identity with managedIdentity: { clientId: … }"
        case "loginEndpoint": "is not used with managedIdentity (tokens come from the instance metadata service); set managedIdentity.endpoint to change where"
        default: "is not used with managedIdentity: the identity belongs to the VM's tenant"
        }
    }
}
