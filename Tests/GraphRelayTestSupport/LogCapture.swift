import Foundation
import Logging

/// Collects what the code under test logs — time, level, message and merged metadata — so tests
/// can assert on log lines (a route decision, an AADSTS code) and that secrets never appear.
public final class LogCapture: @unchecked Sendable {
    public struct Entry: Sendable, CustomStringConvertible {
        public var date: Date
        public var level: Logger.Level
        public var message: String
        public var metadata: [String: String]

        /// `level message key=value …`, keys sorted.
        public var description: String {
            "\(level) \(message) \(metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))"
        }
    }

    private let lock = NSLock()
    private var storage: [Entry] = []

    public init() {}

    /// A logger whose records at `level` and above land here.
    public func logger(_ label: String, level: Logger.Level = .info) -> Logger {
        Logger(label: label) { _ in Handler(capture: self, logLevel: level) }
    }

    public var entries: [Entry] {
        lock.lock()
        defer { lock.unlock() }
        return storage
    }

    /// Every entry rendered as one line.
    public var lines: [String] { entries.map(\.description) }

    /// Every entry, one per line.
    public var text: String { lines.joined(separator: "\n") }

    /// Entries whose message contains `text` (and, if given, with `key` = `value` in the metadata).
    public func entries(containing text: String, metadata key: String? = nil, value: String? = nil) -> [Entry] {
        entries.filter { entry in
            entry.message.contains(text) && (key.map { entry.metadata[$0] == value } ?? true)
        }
    }

    /// The last `count` entries, one per line, for failure messages.
    public func tail(_ count: Int = 40) -> String {
        entries.suffix(count).map(\.description).joined(separator: "\n")
    }

    fileprivate func append(_ entry: Entry) {
        lock.lock()
        storage.append(entry)
        lock.unlock()
    }

    private struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            capture.append(Entry(date: Date(), level: event.level, message: "\(event.message)", metadata: merged.mapValues { "\($0)" }))
        }
    }
}
