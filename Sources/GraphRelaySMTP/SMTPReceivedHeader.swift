#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Builds the `Received:` trace header the listener prepends to every message (RFC 5321 §4.4,
/// protocol names from RFC 3848), e.g.
///
/// ```
/// Received: from printer01 ([192.0.2.10])
///         (using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256 bits))
///         by relay.example.com (graph-relay) with ESMTPSA id 3F9A2C1B7E04
///         for <user@example.com>; Tue, 25 Nov 2025 10:00:00 +0000
/// ```
///
/// `for` is only given for a single recipient (listing several would disclose Bcc recipients).
/// The authenticated user name is not included.
enum SMTPReceivedHeader {
    static func make(hostname: String, session: SMTPSessionInfo, envelope: SMTPEnvelope, time: Int) -> String {
        var header = "Received: from \(sanitise(session.heloName)) (\(addressLiteral(session.clientAddress)))\r\n"
        if let tls = session.tls {
            header += "\t(using \(tls.version) with cipher \(tls.cipher) (\(tls.cipherBits) bits))\r\n"
        }
        header += "\tby \(hostname) (graph-relay) with \(protocolName(session)) id \(envelope.id)"
        if envelope.recipients.count == 1 {
            header += "\r\n\tfor <\(envelope.recipients[0].address)>"
        }
        header += "; \(rfc5322Date(time))\r\n"
        return header
    }

    /// `SMTP`, `ESMTP`, `ESMTPS`, `ESMTPA`, `ESMTPSA` (RFC 3848).
    static func protocolName(_ session: SMTPSessionInfo) -> String {
        guard session.usedEHLO else { return "SMTP" }
        return "ESMTP" + (session.tls != nil ? "S" : "") + (session.authenticatedUser != nil ? "A" : "")
    }

    /// The HELO name is client input: keep it to printable ASCII that cannot break the header.
    static func sanitise(_ name: String?) -> String {
        guard let name, !name.isEmpty else { return "unknown" }
        let forbidden: Set<UInt8> = [UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "\\"), UInt8(ascii: ";"), UInt8(ascii: "\"")]
        let bytes = name.utf8.prefix(255).map { byte -> UInt8 in
            (byte > 32 && byte < 127 && !forbidden.contains(byte)) ? byte : UInt8(ascii: "_")
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func addressLiteral(_ address: String) -> String {
        if address.contains(":") { return "[IPv6:\(address)]" }
        if address.first?.isNumber == true { return "[\(address)]" }
        return "unknown"
    }

    private static let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// `Tue, 25 Nov 2025 10:00:00 +0000` (RFC 5322 §3.3), always in UTC.
    static func rfc5322Date(_ seconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(weekdays[Int(parts.tm_wday)]), \(parts.tm_mday) \(months[Int(parts.tm_mon)]) \(1900 + Int(parts.tm_year)) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) +0000"
    }
}
