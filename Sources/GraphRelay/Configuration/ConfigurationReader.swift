import Foundation
import GraphRelayTLS
import Yams

/// Walks the YAML node tree, converting values and collecting every problem with its key path
/// and line. Internal to the loader.
struct ConfigurationReader {
    var issues: [ConfigurationIssue] = []
    var warnings: [ConfigurationIssue] = []
    /// Line of every key path visited, for attaching lines to semantic errors found later.
    var lines: [String: Int] = [:]
    let environment: [String: String]
    /// Directory relative paths are resolved against (the configuration file's).
    let baseDirectory: String?

    init(environment: [String: String], baseDirectory: String?) {
        self.environment = environment
        self.baseDirectory = baseDirectory
    }

    // MARK: Reporting

    mutating func error(_ path: String, _ message: String, _ node: Node? = nil) {
        issues.append(ConfigurationIssue(path: path, message: message, line: node?.mark?.line ?? lines[path]))
    }

    mutating func warning(_ path: String, _ message: String, _ node: Node? = nil) {
        warnings.append(ConfigurationIssue(path: path, message: message, line: node?.mark?.line ?? lines[path]))
    }

    static func join(_ path: String, _ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    static func kindName(_ node: Node) -> String {
        switch node {
        case .scalar: "a value"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    static func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node else { return false }
        guard scalar.style == .plain || scalar.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    // MARK: Mappings

    /// A mapping being read: values are taken by key; ``finish(_:)`` reports keys never taken.
    struct Mapping {
        let path: String
        let node: Node
        private(set) var entries: [(key: String, keyNode: Node, value: Node)] = []
        private var taken: Set<String> = []

        fileprivate init(path: String, node: Node, entries: [(key: String, keyNode: Node, value: Node)]) {
            self.path = path
            self.node = node
            self.entries = entries
        }

        var keys: [String] { entries.map(\.key) }

        func has(_ key: String) -> Bool {
            entries.contains { $0.key == key }
        }

        /// The value node for `key`, or `nil` if absent or `null`. Marks the key as known.
        mutating func take(_ key: String, _ reader: inout ConfigurationReader) -> Node? {
            taken.insert(key)
            guard let entry = entries.first(where: { $0.key == key }) else { return nil }
            let path = ConfigurationReader.join(self.path, key)
            if let line = entry.keyNode.mark?.line { reader.lines[path] = line }
            return ConfigurationReader.isNull(entry.value) ? nil : entry.value
        }

        /// Reports every key not taken, with a suggestion when one is close to a known key.
        func finish(_ reader: inout ConfigurationReader) {
            for entry in entries where !taken.contains(entry.key) {
                let path = ConfigurationReader.join(self.path, entry.key)
                var message = "unknown key '\(entry.key)'"
                if entry.key == "<<" {
                    message = "YAML merge keys ('<<') are not supported"
                } else if let suggestion = ConfigurationReader.suggestion(for: entry.key, among: taken) {
                    message += " (did you mean '\(suggestion)'?)"
                } else {
                    message += " (known keys: \(taken.sorted().joined(separator: ", ")))"
                }
                reader.error(path, message, entry.keyNode)
            }
        }
    }

    /// Opens `node` as a mapping; reports and returns `nil` otherwise.
    mutating func mapping(_ node: Node, _ path: String) -> Mapping? {
        guard case .mapping(let mapping) = node else {
            error(path, "expected a mapping (key: value pairs), found \(ConfigurationReader.kindName(node))", node)
            return nil
        }
        var entries: [(key: String, keyNode: Node, value: Node)] = []
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                error(path, "keys must be plain names, found \(ConfigurationReader.kindName(keyNode))", keyNode)
                continue
            }
            entries.append((scalar.string, keyNode, value))
        }
        return Mapping(path: path, node: node, entries: entries)
    }

    /// Items of a list; reports and returns `nil` when `node` is not a list.
    mutating func sequence(_ node: Node, _ path: String) -> [Node]? {
        guard case .sequence(let sequence) = node else {
            error(path, "expected a list, found \(ConfigurationReader.kindName(node))", node)
            return nil
        }
        return Array(sequence)
    }

    static func suggestion(for key: String, among known: Set<String>) -> String? {
        let lowered = key.lowercased()
        if let sameCase = known.first(where: { $0.lowercased() == lowered }) { return sameCase }
        // A long shared prefix (`retries` → `retry`, `allowedSender` → `allowedSenders`).
        let prefixMatch = known.sorted().map { name -> (String, Int) in
            let common = zip(lowered, name.lowercased()).prefix { $0 == $1 }.count
            return (name, common)
        }.filter { $0.1 >= max(4, $0.0.count / 2 + 1) }.max { $0.1 < $1.1 }
        let threshold = max(1, min(3, key.count / 3))
        var best: (name: String, distance: Int)?
        for name in known.sorted() {
            let distance = editDistance(lowered, name.lowercased())
            guard distance <= threshold else { continue }
            if best == nil || distance < best!.distance { best = (name, distance) }
        }
        return best?.name ?? prefixMatch?.0
    }

    static func editDistance(_ lhs: String, _ rhs: String) -> Int {
        let a = Array(lhs), b = Array(rhs)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    // MARK: Scalars

    mutating func string(_ node: Node, _ path: String) -> String? {
        guard case .scalar(let scalar) = node else {
            error(path, "expected a value, found \(ConfigurationReader.kindName(node))", node)
            return nil
        }
        return scalar.string
    }

    mutating func nonEmptyString(_ node: Node, _ path: String) -> String? {
        guard let text = string(node, path) else { return nil }
        let trimmed = text.trimmingASCIIWhitespace()
        guard !trimmed.isEmpty else {
            error(path, "must not be empty", node)
            return nil
        }
        return trimmed
    }

    mutating func bool(_ node: Node, _ path: String) -> Bool? {
        guard let text = string(node, path) else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            error(path, "expected true or false, found '\(text)'", node)
            return nil
        }
    }

    /// `value` if it lies in `range`, else an error naming the bounds.
    private mutating func within<T: Comparable>(_ range: ClosedRange<T>, _ value: T, _ path: String, _ node: Node, unit: String = "") -> T? {
        guard range.contains(value) else {
            error(path, "must be between \(range.lowerBound) and \(range.upperBound)\(unit), found \(value)", node)
            return nil
        }
        return value
    }

    mutating func int(_ node: Node, _ path: String, range: ClosedRange<Int>) -> Int? {
        guard let text = string(node, path) else { return nil }
        let trimmed = text.trimmingASCIIWhitespace().replacingOccurrences(of: "_", with: "")
        guard let value = Int(trimmed) else {
            error(path, "expected a whole number, found '\(text)'", node)
            return nil
        }
        return within(range, value, path, node)
    }

    mutating func double(_ node: Node, _ path: String, range: ClosedRange<Double>) -> Double? {
        guard let text = string(node, path) else { return nil }
        guard let value = Double(text.trimmingASCIIWhitespace()), value.isFinite else {
            error(path, "expected a number, found '\(text)'", node)
            return nil
        }
        return within(range, value, path, node)
    }

    mutating func byteSize(_ node: Node, _ path: String, range: ClosedRange<Int>) -> Int? {
        guard let text = string(node, path) else { return nil }
        guard let value = ConfigurationValue.byteSize(text) else {
            error(path, "'\(text)' is not a size; use bytes or a unit: 500KB, 3MB, 35MB, 1GiB (KB/MB/GB are 1000-based, KiB/MiB/GiB 1024-based)", node)
            return nil
        }
        return within(range, value, path, node, unit: " bytes")
    }

    mutating func duration(_ node: Node, _ path: String, minimum: Duration = .zero, maximum: Duration? = nil) -> Duration? {
        guard let text = string(node, path) else { return nil }
        guard let value = ConfigurationValue.duration(text) else {
            error(path, "'\(text)' is not a duration; use a number with a unit: 500ms, 30s, 5m, 1h, 5d", node)
            return nil
        }
        guard value >= minimum else {
            error(path, "must be at least \(ConfigurationValue.format(minimum)), found \(text)", node)
            return nil
        }
        if let maximum, value > maximum {
            error(path, "must be at most \(ConfigurationValue.format(maximum)), found \(text)", node)
            return nil
        }
        return value
    }

    mutating func choice<T: RawRepresentable & CaseIterable>(_ node: Node, _ path: String, _ type: T.Type) -> T?
    where T.RawValue == String {
        guard let text = string(node, path) else { return nil }
        if let value = T(rawValue: text.trimmingASCIIWhitespace().lowercased()) ?? T(rawValue: text) { return value }
        let allowed = T.allCases.map(\.rawValue).joined(separator: ", ")
        error(path, "'\(text)' is not one of: \(allowed)", node)
        return nil
    }

    mutating func stringList(_ node: Node, _ path: String) -> [(String, Node, String)]? {
        guard let items = sequence(node, path) else { return nil }
        var result: [(String, Node, String)] = []
        for (index, item) in items.enumerated() {
            let itemPath = "\(path)[\(index)]"
            if let text = nonEmptyString(item, itemPath) { result.append((text, item, itemPath)) }
        }
        return result
    }

    /// A string or a list of strings.
    mutating func stringOrList(_ node: Node, _ path: String) -> [String]? {
        if case .scalar = node { return nonEmptyString(node, path).map { [$0] } }
        return stringList(node, path)?.map(\.0)
    }

    mutating func cidrList(_ node: Node, _ path: String) -> [CIDRBlock]? {
        guard let items = stringList(node, path) else { return nil }
        var blocks: [CIDRBlock] = []
        for (text, item, itemPath) in items {
            do {
                blocks.append(try CIDRBlock(parsing: text))
            } catch {
                self.error(itemPath, error.description, item)
            }
        }
        return blocks
    }

    mutating func senderPatterns(_ node: Node, _ path: String) -> [SenderPattern]? {
        guard let items = stringList(node, path) else { return nil }
        var patterns: [SenderPattern] = []
        for (text, item, itemPath) in items {
            do {
                patterns.append(try SenderPattern(parsing: text))
            } catch {
                self.error(itemPath, error.description, item)
            }
        }
        return patterns
    }

    mutating func address(_ node: Node, _ path: String) -> String? {
        guard let text = nonEmptyString(node, path) else { return nil }
        guard MailAddress.isValidAddrSpec(text) else {
            error(path, "'\(text)' is not an email address (local@domain)", node)
            return nil
        }
        return text
    }

    // MARK: Paths, secrets, PEM

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

    private mutating func pemFile(_ file: String, _ path: String, _ node: Node, _ kind: PEMKind) -> PEMSource? {
        let resolved = resolve(path: file)
        guard let bytes = readFile(file, path, node), checkPEM(bytes, kind, path, node, origin: "'\(resolved)'") else { return nil }
        if kind == .privateKey, !checkExposure(of: resolved, holding: .privateKey, path, node) { return nil }
        return .file(resolved)
    }

    private mutating func checkPEM(_ bytes: [UInt8], _ kind: PEMKind, _ path: String, _ node: Node, origin: String) -> Bool {
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
