import GraphRelayGraph
import Foundation
import GraphRelayTLS
import Logging
import Yams

extension RelayConfiguration {
    /// Loads and validates a configuration file. Relative paths inside it are resolved against
    /// the file's directory; `{ env: … }` values against `environment`.
    ///
    /// - Throws: ``ConfigurationError`` listing every problem with its key path and line.
    public static func load(
        contentsOfFile path: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> RelayConfiguration {
        let absolute = path.hasPrefix("/") ? path
            : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(path)
        guard let data = FileManager.default.contents(atPath: absolute) else {
            let reason = FileManager.default.fileExists(atPath: absolute) ? "permission denied" : "no such file"
            throw ConfigurationError(file: path, issues: [ConfigurationIssue(path: "", message: "cannot read the configuration file: \(reason)")])
        }
        guard let yaml = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(file: path, issues: [ConfigurationIssue(path: "", message: "the configuration file is not UTF-8 text")])
        }
        var configuration = try parse(
            yaml: yaml,
            baseDirectory: (absolute as NSString).deletingLastPathComponent,
            environment: environment,
            file: path
        )
        if let exposure = FileExposure(path: absolute) {
            configuration.warnings.insert(ConfigurationIssue(path: "", message: "the configuration file \(exposure.describe(absolute))"), at: 0)
        }
        return configuration
    }

    /// Parses and validates configuration YAML.
    ///
    /// - Parameters:
    ///   - baseDirectory: where relative paths are resolved (`nil`: the working directory).
    ///   - environment: for `{ env: NAME }` secrets, `https_proxy`/`no_proxy` and the workload
    ///     identity variables.
    ///   - file: the file name used in the error report.
    public static func parse(
        yaml: String,
        baseDirectory: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        file: String? = nil
    ) throws(ConfigurationError) -> RelayConfiguration {
        var reader = ConfigurationReader(environment: environment, baseDirectory: baseDirectory)
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw ConfigurationError(file: file, issues: [RelayConfiguration.issue(for: error)])
        } catch {
            throw ConfigurationError(file: file, issues: [ConfigurationIssue(path: "", message: "YAML error: \(error)")])
        }
        guard let root, !ConfigurationReader.isNull(root) else {
            throw ConfigurationError(file: file, issues: [ConfigurationIssue(path: "", message: "the configuration is empty")])
        }
        var configuration = RelayConfiguration()
        var context = ValidationContext()
        context.fromFile = true
        guard var top = reader.mapping(root, "") else {
            throw ConfigurationError(file: file, issues: reader.issues)
        }
        context.tlsDeclared = top.has("tls")
        configuration.read(&top, &reader, &context)
        top.finish(&reader)
        let report = configuration.validate(context: context)
        for issue in report.errors {
            reader.issues.append(issue.line == nil ? ConfigurationIssue(path: issue.path, message: issue.message, line: reader.lines[issue.path]) : issue)
        }
        for issue in report.warnings {
            reader.warnings.append(issue.line == nil ? ConfigurationIssue(path: issue.path, message: issue.message, line: reader.lines[issue.path]) : issue)
        }
        if !reader.issues.isEmpty {
            // File order; problems of a whole section (no line) first. Stable for equal lines.
            let ordered = reader.issues.enumerated().sorted {
                ($0.element.line ?? 0, $0.offset) < ($1.element.line ?? 0, $1.offset)
            }.map(\.element)
            throw ConfigurationError(file: file, issues: ordered)
        }
        configuration.warnings = reader.warnings
        return configuration
    }

    static func issue(for error: YamlError) -> ConfigurationIssue {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return ConfigurationIssue(path: "", message: "YAML syntax error: \(problem) (column \(mark.column))", line: mark.line)
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            return ConfigurationIssue(path: "", message: "duplicate key \(keys) in the same mapping", line: context.mark.line)
        case .reader(let problem, _, _, _):
            return ConfigurationIssue(path: "", message: "cannot read YAML: \(problem)")
        default:
            return ConfigurationIssue(path: "", message: "YAML error: \(error)")
        }
    }

    // MARK: Sections

    private mutating func read(_ top: inout ConfigurationReader.Mapping, _ reader: inout ConfigurationReader, _ context: inout ValidationContext) {
        if let node = top.take("tls", &reader) { tls = Self.readTLS(node, "tls", &reader) }
        if let node = top.take("smtp", &reader) { readSMTP(node, &reader, &context) } else {
            smtp.listeners = [Listener(address: ListenAddress(host: "0.0.0.0", port: 25), tls: context.tlsDeclared ? .starttls : .none)]
        }
        if let node = top.take("access", &reader) { readAccess(node, &reader, &context) }
        if let node = top.take("applications", &reader) { readApplications(node, &reader, &context) }
        if let node = top.take("routes", &reader) { readRoutes(node, &reader, &context) }
        if let node = top.take("delivery", &reader), let mode = reader.choice(node, "delivery", DeliveryMode.self) {
            delivery = mode
        }
        if let node = top.take("spool", &reader) { readSpool(node, &reader) }
        if let node = top.take("scheduler", &reader), var map = reader.mapping(node, "scheduler") {
            if let value = map.take("concurrencyPerMailbox", &reader) {
                scheduler.concurrencyPerMailbox = reader.int(value, "scheduler.concurrencyPerMailbox", range: 1...4)
                    ?? scheduler.concurrencyPerMailbox
            }
            if let value = map.take("messagesPerMinute", &reader) {
                scheduler.messagesPerMinute = reader.int(value, "scheduler.messagesPerMinute", range: 1...10_000)
                    ?? scheduler.messagesPerMinute
            }
            if let value = map.take("uploadLimit", &reader) {
                scheduler.uploadLimit = reader.byteSize(value, "scheduler.uploadLimit", range: 0...(1 << 40)) ?? scheduler.uploadLimit
            }
            map.finish(&reader)
        }
        if let node = top.take("bounces", &reader), var map = reader.mapping(node, "bounces") {
            if let value = map.take("enabled", &reader) { bounces.enabled = reader.bool(value, "bounces.enabled") ?? true }
            if let value = map.take("adminAddress", &reader) { bounces.adminAddress = reader.address(value, "bounces.adminAddress") }
            map.finish(&reader)
        }
        readGraph(top.take("graph", &reader), &reader)
        if graph.sendVia == .sendMail && !context.maxMessageSizeGiven {
            smtp.maxMessageSize = Self.sendMailMessageSizeLimit
        }
        if let node = top.take("emulator", &reader) {
            reader.error("emulator", "is no longer a configuration key: run the graph-emulator executable (development and tests only) and point the application's loginEndpoint, graphEndpoint and caFile at it", node)
        }
        if let node = top.take("admin", &reader), var map = reader.mapping(node, "admin") {
            if let value = map.take("address", &reader), let text = reader.nonEmptyString(value, "admin.address") {
                if text.lowercased() == "none" {
                    admin.address = nil
                } else {
                    do {
                        admin.address = try ListenAddress(parsing: text)
                    } catch {
                        reader.error("admin.address", "\(error) (or none)", value)
                    }
                }
            }
            if let value = map.take("bearerToken", &reader) { admin.bearerToken = reader.secret(value, "admin.bearerToken") }
            if let value = map.take("mailboxLabels", &reader), let flag = reader.bool(value, "admin.mailboxLabels") {
                admin.mailboxLabels = flag
            }
            map.finish(&reader)
        }
        if let node = top.take("logging", &reader), var map = reader.mapping(node, "logging") {
            if let value = map.take("level", &reader), let level = reader.choice(value, "logging.level", Logger.Level.self) {
                logging.level = level
            }
            if let value = map.take("format", &reader), let format = reader.choice(value, "logging.format", LogFormat.self) {
                logging.format = format
            }
            map.finish(&reader)
        }
    }

    static func redactingCredentials(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://"), let at = url[schemeEnd.upperBound...].firstIndex(of: "@") else { return url }
        return String(url[..<schemeEnd.upperBound]) + "***@" + String(url[url.index(after: at)...])
    }
}
