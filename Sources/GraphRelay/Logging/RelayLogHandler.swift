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
        // Built in one string with plain appends: this runs for every record at the configured
        // level (several per SMTP session), so no Foundation string searching or formatting.
        var text = ""
        text.reserveCapacity(128 + merged.count * 32)
        text += Self.timestamp(Date())
        text += " "
        text += level.rawValue
        text += " "
        text += UntrustedText.escaped(label)
        text += ":"
        for key in merged.keys.sorted() {
            text += " "
            text += UntrustedText.escaped(key)
            text += "="
            Self.append(merged[key]!, to: &text)
        }
        text += " "
        text += UntrustedText.escaped(message.description)
        text += "\n"
        write(text)
    }

    /// Appends a metadata value: escaped, `"` as `\"`, quoted when empty or when it contains a
    /// space.
    private static func append(_ value: Logger.Metadata.Value, to text: inout String) {
        switch value {
        case .string(let string):
            let escaped = UntrustedText.escaped(string)
            var quote = escaped.isEmpty
            var hasQuotes = false
            for byte in escaped.utf8 {
                if byte == UInt8(ascii: " ") { quote = true }
                if byte == UInt8(ascii: "\"") { hasQuotes = true }
            }
            if quote { text += "\"" }
            if hasQuotes {
                for scalar in escaped.unicodeScalars {
                    if scalar == "\"" { text += "\\" }
                    text.unicodeScalars.append(scalar)
                }
            } else {
                text += escaped
            }
            if quote { text += "\"" }
        case .stringConvertible(let convertible):
            append(.string(convertible.description), to: &text)
        case .array(let values):
            text += "["
            for (index, element) in values.enumerated() {
                if index > 0 { text += "," }
                append(element, to: &text)
            }
            text += "]"
        case .dictionary(let values):
            text += "{"
            for (index, key) in values.keys.sorted().enumerated() {
                if index > 0 { text += "," }
                text += UntrustedText.escaped(key)
                text += "="
                append(values[key]!, to: &text)
            }
            text += "}"
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
        UTCTimestamp.string(date)
    }
}
