import Foundation
import GraphRelayTLS

extension SelfSignedCertificate {
    /// The emulator's development certificate: CN `graph-emulator`, valid for `localhost`,
    /// `127.0.0.1` and `::1`. Clients trust it by adding ``certificatePEM`` to their trust roots.
    public static func graphEmulator(validityDays: Int = 30) throws -> SelfSignedCertificate {
        try generate(commonName: "graph-emulator",
                     subjectAlternativeNames: ["DNS:localhost", "IP:127.0.0.1", "IP:::1"],
                     days: validityDays)
    }

    /// Writes the certificate and key to `directory` (`emulator.pem`, `emulator.key`, mode 0600
    /// for the key) and returns their paths.
    public func write(to directory: String) throws -> (certificate: String, privateKey: String) {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let certificate = (directory as NSString).appendingPathComponent("emulator.pem")
        let privateKey = (directory as NSString).appendingPathComponent("emulator.key")
        try certificatePEM.write(toFile: certificate, atomically: true, encoding: .utf8)
        guard FileManager.default.createFile(atPath: privateKey, contents: Data(privateKeyPEM.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: privateKey])
        }
        return (certificate, privateKey)
    }
}
