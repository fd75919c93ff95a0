import GraphRelayGraph
import Foundation
import GraphRelayTLS
import Logging
import Yams

// Reading the `applications` section of the configuration file (see RelayConfiguration+Loading.swift).
extension RelayConfiguration {
    mutating func readApplications(_ node: Node, _ reader: inout ConfigurationReader, _ context: inout ValidationContext) {
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

    static func readApplication(
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

        let (credentialKeys, credential, isWorkloadIdentity) = readCredential(&map, path, node, &reader)
        func endpoint(_ key: String) -> ServiceEndpoint? {
            guard let value = map.take(key, &reader), let text = reader.nonEmptyString(value, "\(path).\(key)") else { return nil }
            do {
                return try ServiceEndpoint(parsing: text)
            } catch {
                reader.error("\(path).\(key)", error.description, value)
                return nil
            }
        }
        if credentialKeys == ["managedIdentity"] {
            // Tenant, client and login endpoint are the identity's.
            for key in ["tenantId", "clientId", "loginEndpoint"] {
                guard let unused = map.take(key, &reader) else { continue }
                reader.error("\(path).\(key)", Self.notUsedWithManagedIdentity(key), unused)
            }
            let graphEndpoint = endpoint("graphEndpoint")
            let caFile = map.take("caFile", &reader).flatMap { reader.pem($0, "\(path).caFile", expecting: .certificate) }
            map.finish(&reader)
            guard let name, case .managedIdentity(let managedIdentity)? = credential else { return nil }
            var clientId = ""
            if case .clientID(let id) = managedIdentity.identity { clientId = id }
            var application = Application(name: name, cloud: cloud, tenantId: "", clientId: clientId, credential: .managedIdentity(managedIdentity))
            if let graphEndpoint { application.graphEndpoint = graphEndpoint }
            application.caFile = caFile
            return application
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
}
