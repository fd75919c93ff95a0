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
}
