import Foundation
import Glibc
import GraphRelayGraph
import GraphRelayMIME
import Logging

/// The relay's log output: one line per record on standard error, as text
/// (`2026-12-05T14:00:00.123Z info graph-relay: key=value … message`, metadata sorted by key) or,
/// with `logging.format: json`, as one JSON object per line:
/// `{"time":"2026-12-05T14:00:00.123Z","level":"info","logger":"graph-relay","message":"…","smtp.client":"192.0.2.7"}`
/// (the metadata as keys, sorted; a metadata key that would replace one of the first four gets a
/// `metadata.` prefix).
///
/// Messages and metadata carry client-supplied text (AUTH user names, HELO names, addresses,
/// Graph's error texts): every one is escaped with ``UntrustedText/escaped(_:)``, so a record is
/// always exactly one line and no client can forge a line or send escape sequences to the
/// terminal of someone reading the log.
public struct RelayLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let format: LogFormat
    private let write: @Sendable (String) -> Void

    /// Writes to standard error.
    public init(label: String, format: LogFormat = .text) {
        self.init(label: label, format: format) { line in
            // One write(2) per record, so lines of concurrent records never interleave.
            var line = line
            line.withUTF8 { bytes in
                var offset = 0
                while offset < bytes.count {
                    let written = Glibc.write(2, bytes.baseAddress! + offset, bytes.count - offset)
                    if written < 0 && errno == EINTR { continue }
                    guard written > 0 else { return }
                    offset += written
                }
            }
        }
    }

    /// Writes each finished line (newline included) with `write`.
    public init(label: String, format: LogFormat = .text, write: @escaping @Sendable (String) -> Void) {
        self.label = label
        self.format = format
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let (level, message, explicit) = (event.level, event.message, event.metadata)
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit { merged.merge(explicit) { _, new in new } }
        if format == .json {
            write(Self.jsonLine(time: Date(), level: level, label: label, message: message.description, metadata: merged))
            return
        }
        var text = Self.timestamp(Date()) + " \(level) \(UntrustedText.escaped(label)):"
        for key in merged.keys.sorted() {
            text += " " + UntrustedText.escaped(key) + "=" + Self.render(merged[key]!)
        }
        text += " " + UntrustedText.escaped(message.description) + "\n"
        write(text)
    }

    /// A metadata value, escaped; values with spaces are quoted.
    static func render(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let string):
            let escaped = UntrustedText.escaped(string).replacingOccurrences(of: "\"", with: "\\\"")
            return escaped.isEmpty || escaped.contains(" ") ? "\"\(escaped)\"" : escaped
        case .stringConvertible(let convertible):
            return render(.string(convertible.description))
        case .array(let values):
            return "[" + values.map(render).joined(separator: ",") + "]"
        case .dictionary(let values):
            return "{" + values.keys.sorted().map { "\(UntrustedText.escaped($0))=\(render(values[$0]!))" }.joined(separator: ",") + "}"
        }
    }

    /// One JSON object and a newline. Client-supplied text is escaped as in the text format first
    /// (control characters, bidirectional overrides), then quoted as JSON.
    static func jsonLine(time: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) -> String {
        let reserved: Set<String> = ["time", "level", "logger", "message"]
        var line = "{\"time\":\"\(timestamp(time))\",\"level\":\"\(level)\",\"logger\":\(jsonString(label)),\"message\":\(jsonString(message))"
        for key in metadata.keys.sorted() {
            let name = reserved.contains(key) ? "metadata." + key : key
            line += ",\(jsonString(name)):\(jsonValue(metadata[key]!))"
        }
        return line + "}\n"
    }

    private static func jsonString(_ text: String) -> String {
        JSONString.quote(UntrustedText.escaped(text))
    }

    private static func jsonValue(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let string): jsonString(string)
        case .stringConvertible(let convertible): jsonString(convertible.description)
        case .array(let values): "[" + values.map(jsonValue).joined(separator: ",") + "]"
        case .dictionary(let values): "{" + values.keys.sorted().map { "\(jsonString($0)):\(jsonValue(values[$0]!))" }.joined(separator: ",") + "}"
        }
    }

    private static func timestamp(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        let millis = Int((seconds - Double(time)) * 1000)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900, parts.tm_mon + 1,
                      parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec, millis)
    }
}
