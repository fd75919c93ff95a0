#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// What systemd listens on for `Type=notify` services: a Unix datagram socket bound to a path in
/// a fresh directory. Hand ``path`` to a process as `NOTIFY_SOCKET` and read what it says.
public final class NotifySocket: @unchecked Sendable {
    public let path: String
    private let directory: String
    private let descriptor: Int32

    public init() throws {
        directory = NSTemporaryDirectory() + "graph-relay-notify-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = directory + "/notify"
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        guard bound == 0 else {
            close(descriptor)
            throw POSIXError(.init(rawValue: errno) ?? .EIO)
        }
    }

    deinit {
        close(descriptor)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A datagram that has arrived, or nil at once (never blocks a thread of the test runner).
    public func take() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(descriptor, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        guard count >= 0 else { return nil }
        return String(decoding: buffer[..<count], as: UTF8.self)
    }

    /// Datagrams until one contains `text` (returned), or nil after `timeout` seconds; every
    /// datagram read on the way is appended to `seen`.
    public func receive(containing text: String, timeout: Double, seen: inout [String]) async -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            while let message = take() {
                seen.append(message)
                if message.contains(text) { return message }
            }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        return nil
    }
}
