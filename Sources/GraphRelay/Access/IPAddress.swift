#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// An IPv4 or IPv6 address as plain bytes, comparable and matchable against ``CIDRBlock``s.
///
/// IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`, what a dual-stack listener reports for IPv4
/// clients) are kept as given but match IPv4 blocks; see ``CIDRBlock/contains(_:)``.
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// The address family and its bytes in network order.
    public enum Value: Sendable, Hashable {
        case v4(UInt32)
        case v6(high: UInt64, low: UInt64)
    }

    public let value: Value

    public init(_ value: Value) {
        self.value = value
    }

    /// Parses `192.0.2.1`, `2001:db8::1`, `[2001:db8::1]` and `fe80::1%eth0` (the zone is
    /// ignored). Returns `nil` for anything else (host names are not resolved).
    public init?(_ text: String) {
        var text = Substring(text)
        if text.hasPrefix("["), text.hasSuffix("]") {
            text = text.dropFirst().dropLast()
        }
        if let percent = text.firstIndex(of: "%") {
            text = text[..<percent]
        }
        guard !text.isEmpty, text.count <= 64 else { return nil }
        let string = String(text)
        if string.utf8.contains(UInt8(ascii: ":")) {
            var storage = in6_addr()
            guard inet_pton(AF_INET6, string, &storage) == 1 else { return nil }
            let bytes = withUnsafeBytes(of: storage) { Array($0) }
            self.init(ipv6Bytes: bytes)
        } else {
            // inet_pton accepts only the strict dotted-quad form, which is what we want.
            var storage = in_addr()
            guard inet_pton(AF_INET, string, &storage) == 1 else { return nil }
            self.init(.v4(UInt32(bigEndian: storage.s_addr)))
        }
    }

    /// The address of an IP socket address; `nil` for Unix domain sockets.
    public init?(_ socketAddress: SocketAddress) {
        switch socketAddress {
        case .v4(let address):
            self.init(.v4(UInt32(bigEndian: address.address.sin_addr.s_addr)))
        case .v6(let address):
            let bytes = withUnsafeBytes(of: address.address.sin6_addr) { Array($0) }
            self.init(ipv6Bytes: bytes)
        case .unixDomainSocket:
            return nil
        }
    }

    /// An IPv6 address from its 16 bytes in network order.
    public init(ipv6Bytes bytes: [UInt8]) {
        precondition(bytes.count == 16, "an IPv6 address has 16 bytes")
        var high: UInt64 = 0
        var low: UInt64 = 0
        for index in 0..<8 { high = high << 8 | UInt64(bytes[index]) }
        for index in 8..<16 { low = low << 8 | UInt64(bytes[index]) }
        self.init(.v6(high: high, low: low))
    }

    /// `true` for IPv4 addresses (not for IPv4-mapped IPv6 addresses).
    public var isIPv4: Bool {
        if case .v4 = value { return true }
        return false
    }

    /// The IPv4 address itself, or the one embedded in an IPv4-mapped IPv6 address
    /// (`::ffff:a.b.c.d`); `nil` for other IPv6 addresses.
    public var ipv4Value: UInt32? {
        switch value {
        case .v4(let address):
            return address
        case .v6(let high, let low):
            guard high == 0, low >> 32 == 0xFFFF else { return nil }
            return UInt32(truncatingIfNeeded: low)
        }
    }

    /// The address as 128 bits; IPv4 addresses become IPv4-mapped IPv6 addresses.
    public var ipv6Value: (high: UInt64, low: UInt64) {
        switch value {
        case .v4(let address):
            return (0, 0xFFFF << 32 | UInt64(address))
        case .v6(let high, let low):
            return (high, low)
        }
    }

    /// The link-local addresses `169.254.0.0/16` and `fe80::/10` (also IPv4-mapped), where the
    /// Azure instance metadata service lives (169.254.169.254).
    public var isLinkLocal: Bool {
        if let v4 = ipv4Value { return v4 >> 16 == 0xA9FE }
        return ipv6Value.high >> 54 == 0x3FA
    }

    /// The loopback addresses `127.0.0.0/8` and `::1` (also IPv4-mapped).
    public var isLoopback: Bool {
        if let v4 = ipv4Value { return v4 >> 24 == 127 }
        return ipv6Value == (0, 1)
    }

    public var description: String {
        switch value {
        case .v4(let address):
            return IPAddress.format(ipv4: address)
        case .v6(let high, let low):
            var bytes = [UInt8](repeating: 0, count: 16)
            for index in 0..<8 {
                bytes[index] = UInt8(truncatingIfNeeded: high >> (56 - 8 * index))
                bytes[8 + index] = UInt8(truncatingIfNeeded: low >> (56 - 8 * index))
            }
            var storage = in6_addr()
            withUnsafeMutableBytes(of: &storage) { $0.copyBytes(from: bytes) }
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
            guard inet_ntop(AF_INET6, &storage, &buffer, socklen_t(buffer.count)) != nil else {
                return "<invalid IPv6 address>"
            }
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    static func format(ipv4 address: UInt32) -> String {
        "\(address >> 24).\(address >> 16 & 0xFF).\(address >> 8 & 0xFF).\(address & 0xFF)"
    }
}
