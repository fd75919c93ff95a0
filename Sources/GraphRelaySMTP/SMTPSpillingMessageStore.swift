#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The default ``SMTPMessageStore``: a message stays in memory up to ``memoryThreshold`` octets;
/// from there on it is written to an unnamed temporary file (created in ``directory`` and unlinked
/// at once, so nothing is left behind even after a crash; the space is freed when the last
/// reference to the message goes away). Memory per message is thus bounded by the threshold.
public struct SMTPSpillingMessageStore: SMTPMessageStore {
    /// Octets kept in memory before spilling to a file. Default 256 KiB.
    public var memoryThreshold: Int
    /// Where temporary files are created. Default `$TMPDIR`, else `/tmp`.
    public var directory: String

    public init(memoryThreshold: Int = 256 * 1024, directory: String? = nil) {
        self.memoryThreshold = memoryThreshold
        self.directory = directory ?? Self.defaultDirectory
    }

    static var defaultDirectory: String {
        if let pointer = getenv("TMPDIR") {
            let value = String(cString: pointer)
            if !value.isEmpty { return value }
        }
        return "/tmp"
    }

    public func makeSink(envelope: SMTPEnvelope, session: SMTPSessionInfo) async throws -> any SMTPMessageSink {
        SMTPSpillingMessageSink(memoryThreshold: memoryThreshold, directory: directory)
    }
}
