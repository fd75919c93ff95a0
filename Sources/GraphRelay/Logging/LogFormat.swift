/// `logging.format`: how the log is written.
public enum LogFormat: String, Sendable, Hashable, CaseIterable {
    /// One line per record: time, level, logger, the metadata as `key=value`, the message.
    case text
    /// One JSON object per line: `time` (RFC 3339), `level`, `logger`, `message`, the metadata as keys.
    case json
}
