import Foundation
import GraphRelayGraph
import Yams

// Reading an application's credential (see RelayConfiguration+LoadingApplications.swift).
extension RelayConfiguration {
    /// Takes the credential keys of `applications[i]`: exactly one of `clientSecret`,
    /// `certificate`, `workloadIdentity`, `managedIdentity`. Returns the keys present, the
    /// credential (nil after an error) and whether it is workload identity (whose tenant and
    /// client ids may come from the environment).
    static func readCredential(
        _ map: inout ConfigurationReader.Mapping, _ path: String, _ node: Node, _ reader: inout ConfigurationReader
    ) -> (keys: [String], credential: Credential?, isWorkloadIdentity: Bool) {
        let credentialKeys = ["clientSecret", "certificate", "workloadIdentity", "managedIdentity"].filter { map.has($0) }
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
        if let value = map.take("managedIdentity", &reader), credentialKeys.count == 1 {
            credential = readManagedIdentity(value, "\(path).managedIdentity", &reader).map { .managedIdentity($0) }
        }
        if credentialKeys.isEmpty {
            reader.error(path, "a credential is required: clientSecret, certificate, workloadIdentity or managedIdentity", node)
        } else if credentialKeys == ["workloadIdentity"], !isWorkloadIdentity, !workloadIdentityInvalid {
            reader.error("\(path).workloadIdentity", "is false, so the application has no credential; use clientSecret, certificate or workloadIdentity: true", node)
        }
        return (credentialKeys, credential, isWorkloadIdentity)
    }
}
