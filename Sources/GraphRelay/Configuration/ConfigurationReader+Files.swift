import Foundation
import GraphRelayTLS
import Yams

// Files the configuration names: paths resolved against the file's directory, secrets (literal,
// { env: }, { file: }), PEM certificates and keys, and who else may read them.
extension ConfigurationReader {
    /// A path from the configuration: `~/` is the home directory; a leading `$NAME/` or
    /// `${NAME}/` is that environment variable (e.g. `$CREDENTIALS_DIRECTORY/client-secret` for
    /// systemd's `LoadCredential=`), left as written when it is not set; other relative paths are
    /// relative to the configuration file.
    func resolve(path: String) -> String {
        if path.hasPrefix("~/"), let home = environment["HOME"] { return home + path.dropFirst() }
        if path.hasPrefix("$") {
            let braced = path.hasPrefix("${")
            let nameStart = path.index(path.startIndex, offsetBy: braced ? 2 : 1)
            let name = path[nameStart...].prefix { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
            var rest = path[name.endIndex...]
            if braced {
                guard rest.hasPrefix("}") else { return path }
                rest = rest.dropFirst()
            }
            guard !name.isEmpty, rest.isEmpty || rest.hasPrefix("/"), let value = environment[String(name)], !value.isEmpty else { return path }
            let expanded = value + rest
            guard !expanded.hasPrefix("/"), let baseDirectory else { return expanded }
            return (baseDirectory as NSString).appendingPathComponent(expanded)
        }
        guard !path.hasPrefix("/"), let baseDirectory else { return path }
        return (baseDirectory as NSString).appendingPathComponent(path)
    }

    /// What a file read for a key holds, for the permission check.
    enum FileContent {
        /// Public material (a certificate): no check.
        case publicData
        /// A `{ file: }` secret: readable by others or a foreign group is a warning.
        case secret
        /// A private key: readable by a foreign group is a warning, by every user an error.
        case privateKey
    }

    /// Reads a file for a key, reporting a clear error (never its content), and a warning or an
    /// error when a secret in it can be read by other users (``FileExposure``).
    mutating func readFile(_ rawPath: String, _ path: String, _ node: Node, holding content: FileContent = .publicData) -> [UInt8]? {
        let resolved = resolve(path: rawPath)
        guard checkExposure(of: resolved, holding: content, path, node) else { return nil }
        guard let handle = FileHandle(forReadingAtPath: resolved) else {
            let reason = FileManager.default.fileExists(atPath: resolved) ? "permission denied" : "no such file"
            error(path, "cannot read '\(resolved)': \(reason)", node)
            return nil
        }
        defer { try? handle.close() }
        do {
            let data = try handle.readToEnd() ?? Data()
            guard data.count <= 1 << 20 else {
                error(path, "'\(resolved)' is larger than 1 MiB; is it the right file?", node)
                return nil
            }
            return Array(data)
        } catch {
            self.error(path, "cannot read '\(resolved)': \(error.localizedDescription)", node)
            return nil
        }
    }

    /// Reports a file holding a secret that other users can read; false when that is an error.
    mutating func checkExposure(of resolved: String, holding content: FileContent, _ path: String, _ node: Node) -> Bool {
        guard content != .publicData, let exposure = FileExposure(path: resolved) else { return true }
        if content == .privateKey && exposure.othersCanRead {
            error(path, "\(exposure.describe(resolved)); a private key readable by everyone is refused", node)
            return false
        }
        warning(path, exposure.describe(resolved), node)
        return true
    }

    /// A secret: a literal string, `{ env: NAME }` or `{ file: PATH }`. File contents lose
    /// trailing line endings. Errors never contain the value.
    mutating func secret(_ node: Node, _ path: String) -> Secret? {
        switch node {
        case .scalar(let scalar):
            guard !scalar.string.isEmpty else {
                error(path, "must not be empty", node)
                return nil
            }
            return Secret(scalar.string, source: .literal)
        case .mapping:
            guard var map = mapping(node, path) else { return nil }
            let envNode = map.take("env", &self)
            let fileNode = map.take("file", &self)
            map.finish(&self)
            switch (envNode, fileNode) {
            case (let envNode?, nil):
                guard let name = nonEmptyString(envNode, ConfigurationReader.join(path, "env")) else { return nil }
                guard let value = environment[name] else {
                    error(path, "environment variable \(name) is not set", envNode)
                    return nil
                }
                guard !value.isEmpty else {
                    error(path, "environment variable \(name) is empty", envNode)
                    return nil
                }
                return Secret(value, source: .environment(name))
            case (nil, let fileNode?):
                guard let file = nonEmptyString(fileNode, ConfigurationReader.join(path, "file")),
                      let bytes = readFile(file, path, fileNode, holding: .secret)
                else { return nil }
                var text = String(decoding: bytes, as: UTF8.self)
                while text.hasSuffix("\n") || text.hasSuffix("\r") || text.hasSuffix("\r\n") { text.removeLast() }
                guard !text.isEmpty else {
                    error(path, "file '\(resolve(path: file))' is empty", fileNode)
                    return nil
                }
                return Secret(text, source: .file(resolve(path: file)))
            default:
                error(path, "expected a literal string, { env: NAME } or { file: PATH }", node)
                return nil
            }
        default:
            error(path, "expected a literal string, { env: NAME } or { file: PATH }, found \(ConfigurationReader.kindName(node))", node)
            return nil
        }
    }

    /// PEM material: a path, `{ file: PATH }`, `{ env: NAME }` (PEM text) or inline PEM text.
    /// Files are checked to be readable and to contain a PEM block of the expected kind.
    mutating func pem(_ node: Node, _ path: String, expecting kind: PEMKind) -> PEMSource? {
        switch node {
        case .scalar(let scalar):
            let text = scalar.string.trimmingASCIIWhitespace()
            guard !text.isEmpty else {
                error(path, "must not be empty", node)
                return nil
            }
            if text.hasPrefix("-----BEGIN") {
                return checkPEM(Array(text.utf8), kind, path, node, origin: "the inline PEM") ? .pem(text) : nil
            }
            return pemFile(text, path, node, kind)
        case .mapping:
            guard var map = mapping(node, path) else { return nil }
            let envNode = map.take("env", &self)
            let fileNode = map.take("file", &self)
            map.finish(&self)
            switch (envNode, fileNode) {
            case (let envNode?, nil):
                guard let name = nonEmptyString(envNode, ConfigurationReader.join(path, "env")) else { return nil }
                guard let value = environment[name], !value.isEmpty else {
                    error(path, "environment variable \(name) is not set", envNode)
                    return nil
                }
                return checkPEM(Array(value.utf8), kind, path, envNode, origin: "environment variable \(name)")
                    ? .pem(value) : nil
            case (nil, let fileNode?):
                guard let file = nonEmptyString(fileNode, ConfigurationReader.join(path, "file")) else { return nil }
                return pemFile(file, path, fileNode, kind)
            default:
                error(path, "expected a path, { file: PATH } or { env: NAME }", node)
                return nil
            }
        default:
            error(path, "expected a path, { file: PATH } or { env: NAME }, found \(ConfigurationReader.kindName(node))", node)
            return nil
        }
    }

    enum PEMKind {
        case certificate
        case privateKey

        var label: String { self == .certificate ? "certificate" : "private key" }

        func matches(_ text: String) -> Bool {
            switch self {
            case .certificate: text.contains("-----BEGIN CERTIFICATE-----")
            case .privateKey: text.contains("PRIVATE KEY-----")
            }
        }
    }

    mutating func pemFile(_ file: String, _ path: String, _ node: Node, _ kind: PEMKind) -> PEMSource? {
        let resolved = resolve(path: file)
        guard let bytes = readFile(file, path, node), checkPEM(bytes, kind, path, node, origin: "'\(resolved)'") else { return nil }
        if kind == .privateKey, !checkExposure(of: resolved, holding: .privateKey, path, node) { return nil }
        return .file(resolved)
    }

    mutating func checkPEM(_ bytes: [UInt8], _ kind: PEMKind, _ path: String, _ node: Node, origin: String) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self)
        guard kind.matches(text) else {
            error(path, "\(origin) contains no PEM \(kind.label)", node)
            return false
        }
        if kind == .privateKey && (text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") || text.contains("Proc-Type: 4,ENCRYPTED")) {
            error(path, "\(origin) holds a passphrase-protected private key; graph-relay reads unencrypted keys only (decrypt it with `openssl pkey -in KEY -out PLAIN` and protect the file by its permissions)", node)
            return false
        }
        return true
    }
}
