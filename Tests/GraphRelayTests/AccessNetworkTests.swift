import NIOCore
import Testing
@testable import GraphRelay

@Suite("Access networks: IP addresses and CIDR blocks")
struct AccessNetworkTests {
    func block(_ text: String) throws -> CIDRBlock { try CIDRBlock(parsing: text) }
    func ip(_ text: String) -> IPAddress { IPAddress(text)! }

    @Test("IPv4 blocks")
    func ipv4() throws {
        let ten = try block("10.0.0.0/8")
        #expect(ten.contains(ip("10.255.1.2")))
        #expect(!ten.contains(ip("11.0.0.1")))
        #expect(try block("192.168.1.0/24").contains(ip("192.168.1.77")))
        #expect(!(try block("192.168.1.0/24")).contains(ip("192.168.2.1")))
        #expect(try block("192.0.2.7").contains(ip("192.0.2.7")))
        #expect(!(try block("192.0.2.7")).contains(ip("192.0.2.8")))
        #expect(try block("0.0.0.0/0").contains(ip("203.0.113.1")))
        #expect(try block("10.0.0.0/8").description == "10.0.0.0/8")
    }

    @Test("IPv6 blocks, bracketed and zoned addresses")
    func ipv6() throws {
        let doc = try block("2001:db8::/32")
        #expect(doc.contains(ip("2001:db8:1::5")))
        #expect(!doc.contains(ip("2001:db9::1")))
        #expect(try block("::1").contains(ip("[::1]")))
        #expect(try block("fe80::/10").contains(ip("fe80::1%eth0")))
        #expect(try block("2001:db8::/127").contains(ip("2001:db8::1")))
        #expect(!(try block("2001:db8::/128")).contains(ip("2001:db8::1")))
        #expect(try block("2001:db8:0:0:8000::/65").contains(ip("2001:db8::ffff:0:0:1")))
        #expect(try block("::/0").contains(ip("2001:db8::1")))
    }

    @Test("IPv4-mapped IPv6 clients match IPv4 blocks, and IPv4 clients match ::ffff:0:0/96")
    func mapped() throws {
        #expect(try block("10.0.0.0/8").contains(ip("::ffff:10.1.2.3")))
        #expect(!(try block("10.0.0.0/8")).contains(ip("::ffff:11.1.2.3")))
        #expect(try block("::ffff:0:0/96").contains(ip("192.0.2.1")))
        #expect(try block("::ffff:10.0.0.0/104").contains(ip("10.9.9.9")))
        #expect(!(try block("2001:db8::/32")).contains(ip("10.0.0.1")))
        #expect(!(try block("10.0.0.0/8")).contains(ip("2001:db8::a00:1")))
    }

    @Test("addresses from NIO socket addresses, IPv4, IPv6 and IPv4-mapped")
    func socketAddresses() throws {
        let v4 = IPAddress(try SocketAddress(ipAddress: "10.1.2.3", port: 25))
        #expect(v4 == ip("10.1.2.3"))
        let v6 = IPAddress(try SocketAddress(ipAddress: "::ffff:10.1.2.3", port: 25))
        #expect(v6?.ipv4Value == ip("10.1.2.3").ipv4Value)
        #expect(try block("10.0.0.0/8").contains(v6!))
        #expect(IPAddress(try SocketAddress(ipAddress: "2001:db8::1", port: 25))?.description == "2001:db8::1")
        #expect(IPAddress(try SocketAddress(unixDomainSocketPath: "/tmp/x.sock")) == nil)
    }

    @Test("bad CIDR text gets a precise reason")
    func errors() {
        #expect(throws: CIDRBlock.ParseError.hostBitsSet("10.0.0.1/8", suggestion: "10.0.0.0/8")) { try CIDRBlock(parsing: "10.0.0.1/8") }
        #expect(throws: CIDRBlock.ParseError.invalidPrefixLength("10.0.0.0/33", maximum: 32)) { try CIDRBlock(parsing: "10.0.0.0/33") }
        #expect(throws: CIDRBlock.ParseError.invalidPrefixLength("::/129", maximum: 128)) { try CIDRBlock(parsing: "::/129") }
        #expect(throws: CIDRBlock.ParseError.invalidPrefixLength("10.0.0.0/", maximum: 32)) { try CIDRBlock(parsing: "10.0.0.0/") }
        #expect(throws: CIDRBlock.ParseError.invalidPrefixLength("10.0.0.0/-1", maximum: 32)) { try CIDRBlock(parsing: "10.0.0.0/-1") }
        #expect(throws: CIDRBlock.ParseError.invalidAddress("printer.local")) { try CIDRBlock(parsing: "printer.local/24") }
        #expect(throws: CIDRBlock.ParseError.invalidAddress("10.0.0")) { try CIDRBlock(parsing: "10.0.0/24") }
        #expect(throws: CIDRBlock.ParseError.invalidAddress("fe80::1%eth0")) { try CIDRBlock(parsing: "fe80::1%eth0") }
        #expect(throws: CIDRBlock.ParseError.empty) { try CIDRBlock(parsing: "  ") }
        #expect(CIDRBlock.ParseError.hostBitsSet("10.0.0.1/8", suggestion: "10.0.0.0/8").description
            == "'10.0.0.1/8' has host bits set after the prefix; did you mean '10.0.0.0/8'?")
    }

    @Test("IP address text forms")
    func addressText() {
        #expect(IPAddress("1.2.3.4")?.description == "1.2.3.4")
        #expect(IPAddress("2001:DB8:0:0:0:0:0:1")?.description == "2001:db8::1")
        #expect(IPAddress("1.2.3") == nil)
        #expect(IPAddress("01.2.3.4") == nil || IPAddress("01.2.3.4")?.description == "1.2.3.4")
        #expect(IPAddress("host") == nil)
        #expect(IPAddress("") == nil)
        #expect(IPAddress("127.0.0.2")!.isLoopback)
        #expect(IPAddress("::1")!.isLoopback)
        #expect(IPAddress("::ffff:127.0.0.1")!.isLoopback)
        #expect(!IPAddress("10.0.0.1")!.isLoopback)
    }
}
