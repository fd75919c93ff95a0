import NIOCore

/// The unit per-client limits count in: an IPv4 address by itself, an IPv6 address by its /64.
///
/// An IPv6 host is usually given a whole /64 and can pick a new source address from it for every
/// connection (privacy addresses do exactly that), so counting single IPv6 addresses would let
/// one host open connections without limit. IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`, as a
/// dual-stack socket reports IPv4 peers) count as the IPv4 address.
public enum SMTPClientNetwork {
    /// `192.0.2.1`, `2001:db8:1:2::/64`, or `unknown` for a peer without an IP address.
    public static func key(for address: SocketAddress?) -> String {
        switch address {
        case .v4(let v4)?:
            return SocketAddress(v4.address, host: "").ipAddress ?? "unknown"
        case .v6(let v6)?:
            var raw = v6.address
            let bytes = withUnsafeBytes(of: &raw.sin6_addr) { Array($0) }
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
                return bytes[12..<16].map(String.init).joined(separator: ".")
            }
            withUnsafeMutableBytes(of: &raw.sin6_addr) { pointer in
                for index in 8..<16 { pointer[index] = 0 }
            }
            let prefix = SocketAddress(raw, host: "").ipAddress ?? "unknown"
            return prefix + "/64"
        default:
            return address?.ipAddress ?? "unknown"
        }
    }
}
