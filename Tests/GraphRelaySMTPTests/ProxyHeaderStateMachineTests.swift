import NIOCore
import Testing
@testable import GraphRelaySMTP

@Suite("PROXY protocol header (v1 and v2)")
struct ProxyHeaderStateMachineTests {
    typealias Machine = ProxyHeaderStateMachine

    /// Feeds `bytes` in pieces of `step` bytes until a decision; a header's remainder then also
    /// holds the pieces not fed (as the handler passes on what arrives after the header).
    private func feed(_ bytes: [UInt8], step: Int = .max) -> Machine.Action {
        var machine = Machine()
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + step)
            let action = machine.bytesReceived(ByteBuffer(bytes: bytes[offset..<end]))
            if case .header(let header, var remainder) = action {
                remainder.writeBytes(bytes[end...])
                return .header(header, remainder: remainder)
            }
            if action != .needMore { return action }
            offset = end
        }
        return .needMore
    }

    private func v1(_ line: String, then rest: String = "") -> [UInt8] { Array((line + rest).utf8) }

    private func proxied(_ action: Machine.Action) -> (String?, Int?, String?, Int?, String)? {
        guard case .header(.proxied(let source, let destination), let remainder) = action else { return nil }
        return (source.ipAddress, source.port, destination.ipAddress, destination.port, String(buffer: remainder))
    }

    @Test("v1 TCP4 and TCP6: the addresses and ports, and the bytes after the line kept for SMTP or TLS; any split of the input")
    func v1Valid() throws {
        for step in [1, 3, 200] {
            let four = try #require(proxied(feed(v1("PROXY TCP4 192.0.2.10 10.1.2.3 51234 25\r\n", then: "EHLO x\r\n"), step: step)))
            #expect(four.0 == "192.0.2.10" && four.1 == 51234 && four.2 == "10.1.2.3" && four.3 == 25 && four.4 == "EHLO x\r\n")
            let six = try #require(proxied(feed(v1("PROXY TCP6 2001:db8::1 2001:db8::2 65535 0\r\n"), step: step)))
            #expect(six.0 == "2001:db8::1" && six.1 == 65535 && six.3 == 0 && six.4.isEmpty)
        }
        guard case .header(.local, let rest) = feed(v1("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n", then: "\u{16}")) else {
            Issue.record("UNKNOWN is the proxy's own connection")
            return
        }
        #expect(rest.readableBytes == 1)
    }

    @Test("v1 malformed: every case closes the connection", arguments: [
        "GET / HTTP/1.0\r\n",                                    // not PROXY at all
        "PROXY TCP4 192.0.2.10 10.1.2.3 51234 25\n",             // LF without CR
        "PROXY TCP4 192.0.2.10 10.1.2.3 51234\r\n",              // five fields
        "PROXY TCP4 192.0.2.10  10.1.2.3 51234 25\r\n",          // double space
        "PROXY TCP4 192.0.2.10 10.1.2.3 65536 25\r\n",           // port out of range
        "PROXY TCP4 192.0.2.10 10.1.2.3 051234 25\r\n",          // leading zero
        "PROXY TCP4 192.0.2.10 10.1.2.3 +1234 25\r\n",           // sign
        "PROXY TCP4 2001:db8::1 10.1.2.3 1 25\r\n",              // IPv6 in TCP4
        "PROXY TCP6 192.0.2.10 2001:db8::2 1 25\r\n",            // IPv4 in TCP6
        "PROXY TCP4 192.0.2 10.1.2.3 1 25\r\n",                  // not an address
        "PROXY UDP4 192.0.2.10 10.1.2.3 1 25\r\n",               // not TCP
        "PROXY TCP4 192.0.2.10 10.1.2.3 1 25\u{1B}\r\n",         // control byte
        "PROXY TCP4 " + String(repeating: "1", count: 100) + "\r\n",  // longer than 107 bytes
    ])
    func v1Malformed(_ line: String) {
        guard case .reject = feed(Array(line.utf8), step: 7) else {
            Issue.record("accepted: \(line.debugDescription)")
            return
        }
    }

    @Test("v1 without CRLF: refused once 107 bytes arrived, not before")
    func v1Bound() {
        var machine = Machine()
        #expect(machine.bytesReceived(ByteBuffer(string: "PROXY TCP4 " + String(repeating: "1", count: 95))) == .needMore)
        guard case .reject = machine.bytesReceived(ByteBuffer(string: "1")) else {
            Issue.record("107 bytes without CRLF must be refused")
            return
        }
    }

    private func v2(command: UInt8 = 0x21, family: UInt8 = 0x11, body: [UInt8]) -> [UInt8] {
        Machine.v2Signature + [command, family, UInt8(body.count >> 8), UInt8(body.count & 0xFF)] + body
    }

    @Test("v2 PROXY over TCP4 and TCP6 with TLVs skipped; LOCAL and UNSPEC are the proxy's own; any split of the input")
    func v2Valid() throws {
        let tlv: [UInt8] = [0x05, 0x00, 0x03, 0x61, 0x62, 0x63]    // PP2_TYPE_UNIQUE_ID "abc"
        let four = v2(body: [192, 0, 2, 10, 10, 1, 2, 3, 0xC8, 0x22, 0x00, 0x19] + tlv) + Array("\u{16}\u{03}".utf8)
        for step in [1, 5, 500] {
            let parsed = try #require(proxied(feed(four, step: step)))
            #expect(parsed.0 == "192.0.2.10" && parsed.1 == 51234 && parsed.2 == "10.1.2.3" && parsed.3 == 25 && parsed.4.utf8.count == 2)
        }
        var six = [UInt8](repeating: 0, count: 36)
        six[0] = 0x20; six[1] = 0x01; six[2] = 0x0D; six[3] = 0xB8; six[15] = 1
        six[16] = 0x20; six[17] = 0x01; six[18] = 0x0D; six[19] = 0xB8; six[31] = 2
        six[32] = 0x01; six[33] = 0x00; six[34] = 0x02; six[35] = 0x4B
        let parsed6 = try #require(proxied(feed(v2(family: 0x21, body: six))))
        #expect(parsed6.0 == "2001:db8::1" && parsed6.1 == 256 && parsed6.2 == "2001:db8::2" && parsed6.3 == 587)
        #expect(feed(v2(command: 0x20, body: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])) == .header(.local, remainder: ByteBuffer()))
        #expect(feed(v2(command: 0x20, family: 0x00, body: [])) == .header(.local, remainder: ByteBuffer()))
        #expect(feed(v2(family: 0x00, body: [])) == .header(.local, remainder: ByteBuffer()))
    }

    @Test("v2 malformed: wrong signature, version, command, UDP or UNIX, short addresses, a length over the bound")
    func v2Malformed() {
        var badSignature = v2(body: Array(repeating: 0, count: 12))
        badSignature[6] = 0x0E
        let cases: [[UInt8]] = [
            badSignature,
            v2(command: 0x11, body: Array(repeating: 0, count: 12)),        // version 1 in a v2 header
            v2(command: 0x22, body: Array(repeating: 0, count: 12)),        // command 2
            v2(family: 0x12, body: Array(repeating: 0, count: 12)),         // UDP over IPv4
            v2(family: 0x31, body: Array(repeating: 0, count: 216)),        // UNIX stream
            v2(body: Array(repeating: 0, count: 11)),                       // TCP4 with 11 bytes
            v2(family: 0x21, body: Array(repeating: 0, count: 35)),         // TCP6 with 35 bytes
            Machine.v2Signature + [0x21, 0x11, 0x04, 0x01],                 // 1025 bytes announced
        ]
        for bytes in cases {
            guard case .reject = feed(bytes, step: 4) else {
                Issue.record("accepted: \(bytes)")
                continue
            }
        }
    }

    @Test("a v2 header announced but not complete waits for the rest; after a decision nothing more is read")
    func waitsAndFinishes() {
        var machine = Machine()
        let header = v2(body: [192, 0, 2, 10, 10, 1, 2, 3, 0, 1, 0, 2])
        #expect(machine.bytesReceived(ByteBuffer(bytes: header.prefix(20))) == .needMore)
        guard case .header = machine.bytesReceived(ByteBuffer(bytes: header.dropFirst(20))) else {
            Issue.record("the rest completes the header")
            return
        }
        guard case .reject = machine.bytesReceived(ByteBuffer(string: "x")) else {
            Issue.record("nothing is read after the decision")
            return
        }
    }
}
