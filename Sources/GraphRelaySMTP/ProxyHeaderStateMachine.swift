import NIOCore

/// What a PROXY protocol header said: the client behind the proxy, or (v2 `LOCAL`, v1
/// `UNKNOWN`, v2 `UNSPEC`) that the connection is the proxy's own, e.g. a health check.
public enum ProxyHeader: Sendable, Hashable {
    case proxied(source: SocketAddress, destination: SocketAddress)
    case local
}

/// Reads the PROXY protocol header (haproxy's specification, versions 1 and 2) that a trusted
/// load balancer writes before the client's first byte. Pure: fed the bytes as they arrive, it
/// says to wait for more, that the header is complete (with the bytes after it, which belong to
/// SMTP or TLS), or why the connection must be closed. The version is told apart by the first
/// bytes (`PROXY ` or the v2 signature); nothing else is accepted.
///
/// Limits: a v1 line is at most 107 bytes with its CRLF; a v2 header at most
/// ``maximumV2Length`` bytes after its 16-byte fixed part. TLVs are skipped. Only TCP over IPv4
/// or IPv6 is proxied; UDP and UNIX sockets are refused.
struct ProxyHeaderStateMachine {
    enum Action: Equatable {
        /// Read more; nothing was decided.
        case needMore
        /// The header is complete; `remainder` is what followed it.
        case header(ProxyHeader, remainder: ByteBuffer)
        /// Close the connection: the bytes are not a valid header.
        case reject(String)
    }

    private enum State {
        case reading(ByteBuffer)
        case finished
    }

    static let v1MaximumLength = 107
    static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    /// Bound of a v2 header's variable part (addresses and TLVs); the specification's headers fit
    /// in one segment, and haproxy's TLVs (unique id, SSL information) in far less than this.
    static let maximumV2Length = 1024
    private static let v1Prefix = Array("PROXY ".utf8)

    private var state = State.reading(ByteBuffer())

    /// The bytes that arrived; call again with the next ones while the answer is `.needMore`.
    mutating func bytesReceived(_ bytes: ByteBuffer) -> Action {
        guard case .reading(var buffer) = state else { return .reject("bytes after the PROXY header was handled") }
        var bytes = bytes
        buffer.writeBuffer(&bytes)
        let action = Self.parse(buffer)
        switch action {
        case .needMore: state = .reading(buffer)
        case .header, .reject: state = .finished
        }
        return action
    }

    private static func parse(_ buffer: ByteBuffer) -> Action {
        let view = buffer.readableBytesView
        guard let first = view.first else { return .needMore }
        if first == v1Prefix[0] {
            let known = min(view.count, v1Prefix.count)
            guard view.prefix(known).elementsEqual(v1Prefix.prefix(known)) else { return .reject("not a PROXY header") }
            return parseV1(buffer)
        }
        if first == v2Signature[0] {
            let known = min(view.count, v2Signature.count)
            guard view.prefix(known).elementsEqual(v2Signature.prefix(known)) else { return .reject("not a PROXY header") }
            return parseV2(buffer)
        }
        return .reject("not a PROXY header")
    }

    // MARK: Version 1

    private static func parseV1(_ buffer: ByteBuffer) -> Action {
        let view = buffer.readableBytesView
        guard let lf = view.firstIndex(of: UInt8(ascii: "\n")) else {
            return view.count >= v1MaximumLength ? .reject("PROXY v1 line longer than 107 bytes") : .needMore
        }
        let length = lf - view.startIndex + 1
        guard length <= v1MaximumLength else { return .reject("PROXY v1 line longer than 107 bytes") }
        guard length >= 2, view[lf - 1] == UInt8(ascii: "\r") else { return .reject("PROXY v1 line not ended by CRLF") }
        guard view[view.startIndex..<(lf - 1)].allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
            return .reject("PROXY v1 line with a control or non-ASCII byte")
        }
        let line = String(decoding: view[view.startIndex..<(lf - 1)], as: UTF8.self)
        let fields = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        var remainder = buffer
        remainder.moveReaderIndex(forwardBy: length)
        if fields.count >= 2, fields[1] == "UNKNOWN" {
            return .header(.local, remainder: remainder)
        }
        guard fields.count == 6 else { return .reject("PROXY v1 line does not have six fields") }
        let family = fields[1]
        guard family == "TCP4" || family == "TCP6" else { return .reject("PROXY v1 protocol is neither TCP4, TCP6 nor UNKNOWN") }
        guard let sourcePort = port(fields[4]), let destinationPort = port(fields[5]) else {
            return .reject("PROXY v1 port is not a decimal number from 0 to 65535")
        }
        guard let source = address(fields[2], port: sourcePort, v6: family == "TCP6"),
              let destination = address(fields[3], port: destinationPort, v6: family == "TCP6") else {
            return .reject("PROXY v1 address is not an \(family == "TCP6" ? "IPv6" : "IPv4") address")
        }
        return .header(.proxied(source: source, destination: destination), remainder: remainder)
    }

    private static func port(_ text: String) -> Int? {
        guard (1...5).contains(text.utf8.count), text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              text == "0" || !text.hasPrefix("0"), let value = Int(text), value <= 65535 else { return nil }
        return value
    }

    private static func address(_ text: String, port: Int, v6: Bool) -> SocketAddress? {
        // IPv4 in dotted-decimal only; IPv6 as inet_pton reads it. The family must match.
        if !v6, text.contains(":") || text.split(separator: ".", omittingEmptySubsequences: false).count != 4 { return nil }
        if v6, !text.contains(":") { return nil }
        return try? SocketAddress(ipAddress: text, port: port)
    }

    // MARK: Version 2

    private static func parseV2(_ buffer: ByteBuffer) -> Action {
        guard buffer.readableBytes >= 16,
              let versionCommand = buffer.getInteger(at: buffer.readerIndex + 12, as: UInt8.self),
              let familyTransport = buffer.getInteger(at: buffer.readerIndex + 13, as: UInt8.self),
              let length = buffer.getInteger(at: buffer.readerIndex + 14, as: UInt16.self) else { return .needMore }
        guard versionCommand >> 4 == 2 else { return .reject("PROXY v2 header with version \(versionCommand >> 4)") }
        let command = versionCommand & 0x0F
        guard command <= 1 else { return .reject("PROXY v2 header with unknown command \(command)") }
        guard Int(length) <= maximumV2Length else { return .reject("PROXY v2 header longer than \(maximumV2Length) bytes") }
        guard buffer.readableBytes >= 16 + Int(length) else { return .needMore }
        var remainder = buffer
        remainder.moveReaderIndex(forwardBy: 16 + Int(length))
        let body = buffer.readerIndex + 16
        // LOCAL: the proxy's own connection; its address block (if any) is ignored.
        guard command == 1 else { return .header(.local, remainder: remainder) }
        switch familyTransport {
        case 0x00:
            return .header(.local, remainder: remainder)
        case 0x11:
            guard length >= 12, let bytes = buffer.getBytes(at: body, length: 12) else { return .reject("PROXY v2 TCP4 addresses shorter than 12 bytes") }
            guard let source = ipv4(bytes[0..<4], port: bytes[8..<10]), let destination = ipv4(bytes[4..<8], port: bytes[10..<12]) else {
                return .reject("PROXY v2 TCP4 address cannot be read")
            }
            return .header(.proxied(source: source, destination: destination), remainder: remainder)
        case 0x21:
            guard length >= 36, let bytes = buffer.getBytes(at: body, length: 36) else { return .reject("PROXY v2 TCP6 addresses shorter than 36 bytes") }
            guard let source = ipv6(bytes[0..<16], port: bytes[32..<34]), let destination = ipv6(bytes[16..<32], port: bytes[34..<36]) else {
                return .reject("PROXY v2 TCP6 address cannot be read")
            }
            return .header(.proxied(source: source, destination: destination), remainder: remainder)
        default:
            return .reject("PROXY v2 family and transport 0x\(String(familyTransport, radix: 16)) is not TCP over IPv4 or IPv6")
        }
    }

    private static func portValue(_ bytes: ArraySlice<UInt8>) -> Int {
        Int(bytes[bytes.startIndex]) << 8 | Int(bytes[bytes.startIndex + 1])
    }

    private static func ipv4(_ bytes: ArraySlice<UInt8>, port: ArraySlice<UInt8>) -> SocketAddress? {
        try? SocketAddress(ipAddress: bytes.map(String.init).joined(separator: "."), port: portValue(port))
    }

    private static func ipv6(_ bytes: ArraySlice<UInt8>, port: ArraySlice<UInt8>) -> SocketAddress? {
        let groups = stride(from: bytes.startIndex, to: bytes.endIndex, by: 2).map { index in
            String(UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1]), radix: 16)
        }
        return try? SocketAddress(ipAddress: groups.joined(separator: ":"), port: portValue(port))
    }
}
