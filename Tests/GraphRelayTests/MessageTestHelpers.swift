@testable import GraphRelay

/// Bytes of a string (tests write messages as Swift strings with explicit \r\n).
func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// Parses a complete message and returns the head and the body bytes.
func parseHead(_ message: String, limit: Int = 256 * 1024) throws -> (head: MessageHead, body: [UInt8]) {
    let all = bytes(message)
    let (head, offset) = try MessageHead.parse(all, isComplete: true, limit: limit)
    return (head, Array(all[offset...]))
}

/// Runs a rewrite on a complete message and returns the whole new message.
func rewritten(_ message: String, _ options: HeaderRewriteOptions) throws -> (message: String, result: HeaderRewriteResult) {
    var (head, body) = try parseHead(message)
    let result = head.rewrite(options)
    return (text(head.bytes + body), result)
}

func addresses(_ value: String) -> [String] {
    AddressListParser.parse(bytes(value)).map(\.addrSpec)
}
