import Foundation
import Logging

/// Everything the relay and the emulator log during one test, as text lines.
final class EndToEndLogStore: Sendable {
    private let lines = Lines()

    func logger(label: String) -> Logger {
        var logger = Logger(label: label) { _ in Handler(store: self.lines) }
        logger.logLevel = .debug
        return logger
    }

    var all: [String] { lines.all }
    var text: String { all.joined(separator: "\n") }

    final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []

        func append(_ line: String) {
            lock.lock()
            lines.append(line)
            lock.unlock()
        }

        var all: [String] {
            lock.lock()
            defer { lock.unlock() }
            return lines
        }
    }

    /// Renders each record as `level message key=value ...`.
    struct Handler: LogHandler {
        let store: Lines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            let rendered = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            store.append("\(event.level) \(event.message) \(rendered)")
        }
    }
}
