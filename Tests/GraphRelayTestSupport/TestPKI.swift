import Foundation
import Synchronization

/// Certificates for tests, generated once per test process with the `openssl` command line tool
/// into a temporary directory: a CA, a server certificate for `localhost`/`127.0.0.1` (RSA and
/// ECDSA), an expired one, and an unrelated CA that trusts none of them.
public struct TestPKI: Sendable {
    public let directory: String

    /// CA that signed `server*` and `expired*`.
    public var caCertificate: String { directory + "/ca.pem" }
    public var caKey: String { directory + "/ca.key" }
    /// RSA server certificate for DNS:localhost and IP:127.0.0.1, signed by the CA.
    public var serverCertificate: String { directory + "/server.pem" }
    public var serverKey: String { directory + "/server.key" }
    /// ECDSA P-256 server certificate for the same names.
    public var ecServerCertificate: String { directory + "/server-ec.pem" }
    public var ecServerKey: String { directory + "/server-ec.key" }
    /// A certificate whose validity ended in the past.
    public var expiredCertificate: String { directory + "/expired.pem" }
    public var expiredKey: String { directory + "/expired.key" }
    /// `serverKey` protected by the passphrase `secret`: PKCS#8 (`BEGIN ENCRYPTED PRIVATE KEY`)
    /// and the traditional form (`Proc-Type: 4,ENCRYPTED`).
    public var encryptedServerKey: String { directory + "/server-encrypted.key" }
    public var traditionalEncryptedServerKey: String { directory + "/server-encrypted-traditional.key" }
    /// A CA unrelated to every certificate here.
    public var otherCACertificate: String { directory + "/other-ca.pem" }

    /// The process-wide instance (generated on first use; its directory is removed at exit).
    public static let shared: TestPKI = {
        do {
            let pki = try TestPKI.generate()
            sharedDirectory.withLock { $0 = pki.directory }
            atexit {
                if let directory = sharedDirectory.withLock({ $0 }) {
                    try? FileManager.default.removeItem(atPath: directory)
                }
            }
            return pki
        } catch {
            fatalError("cannot generate test certificates: \(error)")
        }
    }()

    public static func generate() throws -> TestPKI {
        let directory = NSTemporaryDirectory() + "graph-relay-pki-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let pki = TestPKI(directory: directory)
        try pki.run()
        return pki
    }

    /// Generates a new certificate for `localhost` signed by the CA (e.g. for reload tests).
    public func issueServerCertificate(name: String, commonName: String = "localhost", days: Int = 30) throws -> (certificate: String, key: String) {
        let key = directory + "/\(name).key"
        let certificate = directory + "/\(name).pem"
        try openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key])
        try openssl(["req", "-new", "-key", key, "-subj", "/CN=\(commonName)", "-out", directory + "/\(name).csr"])
        try sign(csr: directory + "/\(name).csr", out: certificate, days: days, extraArgs: [])
        return (certificate, key)
    }

    private func run() throws {
        let d = directory
        let ext = """
        basicConstraints=CA:FALSE
        subjectAltName=DNS:localhost,IP:127.0.0.1
        extendedKeyUsage=serverAuth,clientAuth
        """
        try ext.write(toFile: d + "/server.ext", atomically: true, encoding: .utf8)

        try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", caKey, "-out", caCertificate,
                     "-days", "30", "-subj", "/CN=graph-relay test CA"])
        try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", d + "/other-ca.key",
                     "-out", otherCACertificate, "-days", "30", "-subj", "/CN=unrelated test CA"])

        try openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", serverKey])
        try openssl(["req", "-new", "-key", serverKey, "-subj", "/CN=localhost", "-out", d + "/server.csr"])
        try sign(csr: d + "/server.csr", out: serverCertificate, days: 30, extraArgs: [])
        try openssl(["pkey", "-in", serverKey, "-aes256", "-passout", "pass:secret", "-out", encryptedServerKey])
        try openssl(["rsa", "-in", serverKey, "-aes256", "-passout", "pass:secret", "-traditional", "-out", traditionalEncryptedServerKey])

        try openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", ecServerKey])
        try openssl(["req", "-new", "-key", ecServerKey, "-subj", "/CN=localhost", "-out", d + "/server-ec.csr"])
        try sign(csr: d + "/server-ec.csr", out: ecServerCertificate, days: 30, extraArgs: [])

        // Expired: valid from two days ago until yesterday.
        try openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", expiredKey])
        try openssl(["req", "-new", "-key", expiredKey, "-subj", "/CN=localhost", "-out", d + "/expired.csr"])
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMddHHmmss'Z'"
        let start = formatter.string(from: Date().addingTimeInterval(-2 * 86400))
        let end = formatter.string(from: Date().addingTimeInterval(-86400))
        try openssl(["x509", "-req", "-in", d + "/expired.csr", "-CA", caCertificate, "-CAkey", caKey,
                     "-CAcreateserial", "-out", expiredCertificate, "-extfile", d + "/server.ext",
                     "-not_before", start, "-not_after", end], allowFailure: true)
        if !FileManager.default.fileExists(atPath: expiredCertificate) || (try? String(contentsOfFile: expiredCertificate, encoding: .utf8))?.isEmpty != false {
            // OpenSSL 3.0's `x509` has no -not_before: use `ca` with explicit dates.
            try makeExpiredWithCA(start: start, end: end)
        }
    }

    private func sign(csr: String, out: String, days: Int, extraArgs: [String]) throws {
        try openssl(["x509", "-req", "-in", csr, "-CA", caCertificate, "-CAkey", caKey, "-CAcreateserial",
                     "-out", out, "-days", "\(days)", "-extfile", directory + "/server.ext"] + extraArgs)
    }

    private func makeExpiredWithCA(start: String, end: String) throws {
        let d = directory
        try FileManager.default.createDirectory(atPath: d + "/ca-db", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: d + "/ca-db/index.txt", contents: Data())
        try "1000\n".write(toFile: d + "/ca-db/serial", atomically: true, encoding: .utf8)
        let config = """
        [ ca ]
        default_ca = test_ca
        [ test_ca ]
        dir = \(d)/ca-db
        database = $dir/index.txt
        serial = $dir/serial
        new_certs_dir = $dir
        default_md = sha256
        policy = policy_any
        copy_extensions = none
        unique_subject = no
        [ policy_any ]
        commonName = supplied
        [ server_ext ]
        basicConstraints=CA:FALSE
        subjectAltName=DNS:localhost,IP:127.0.0.1
        extendedKeyUsage=serverAuth
        """
        try config.write(toFile: d + "/ca.cnf", atomically: true, encoding: .utf8)
        try openssl(["ca", "-batch", "-config", d + "/ca.cnf", "-cert", caCertificate, "-keyfile", caKey,
                     "-in", d + "/expired.csr", "-out", expiredCertificate, "-startdate", start, "-enddate", end,
                     "-extensions", "server_ext", "-notext"])
    }

    @discardableResult
    private func openssl(_ arguments: [String], allowFailure: Bool = false) throws -> ProcessResult {
        let result = try ProcessRunner.run("openssl", arguments, timeout: 60)
        if result.status != 0 && !allowFailure {
            throw ProcessError.failed(command: "openssl " + arguments.joined(separator: " "), result: result)
        }
        return result
    }
}

/// The shared PKI's directory, for the clean-up at exit (a C callback cannot capture it).
private let sharedDirectory = Mutex<String?>(nil)
