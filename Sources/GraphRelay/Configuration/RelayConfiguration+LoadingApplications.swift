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
}
