#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Parses the path argument of `MAIL FROM:` / `RCPT TO:` (RFC 5321 §4.1.2, RFC 6531 for UTF-8)
/// and splits off the ESMTP parameters that follow it.
///
/// Accepted: `<local@domain>`, `<>`, `<"quoted local"@domain>`, `<user@[192.0.2.1]>`,
/// `<user@[IPv6:2001:db8::1]>`, source routes `<@a,@b:user@c>` (ignored, RFC 5321 §4.1.2),
/// UTF-8 local parts and domains, and — as Postfix does — a missing `<>` around a path without
/// spaces and an address without `@domain` (the caller decides whether that is acceptable).
enum SMTPPathParser {
    enum Path: Hashable {
        case null
        case mailbox(SMTPMailbox)
    }

    struct Parsed: Hashable {
        var path: Path
        /// Everything after the path, leading spaces removed.
        var parameters: ArraySlice<UInt8>
    }

    struct Failure: Error, Hashable {
        var detail: String
    }

    static func parse(_ input: ArraySlice<UInt8>) throws(Failure) -> Parsed {
        var index = input.startIndex
        let end = input.endIndex
        guard index < end else { throw Failure(detail: "missing address") }

        let path: Path
        if input[index] == UInt8(ascii: "<") {
            let pathStart = index
            index += 1
            guard index < end else { throw Failure(detail: "missing \">\"") }
            if input[index] == UInt8(ascii: ">") {
                path = .null
                index += 1
            } else {
                if input[index] == UInt8(ascii: "@") {
                    index = try skipSourceRoute(input, from: index)
                }
                let mailbox = try parseMailbox(input, index: &index, terminators: [UInt8(ascii: ">")])
                guard index < end, input[index] == UInt8(ascii: ">") else { throw Failure(detail: "missing \">\"") }
                index += 1
                path = .mailbox(mailbox)
            }
            guard index - pathStart <= SMTPCommandParser.maximumPathLength else { throw Failure(detail: "path too long") }
        } else {
            let pathStart = index
            let mailbox = try parseMailbox(input, index: &index, terminators: [UInt8(ascii: " ")])
            guard index - pathStart + 2 <= SMTPCommandParser.maximumPathLength else { throw Failure(detail: "path too long") }
            path = .mailbox(mailbox)
        }

        let rest = input[index...]
        if let first = rest.first, first != UInt8(ascii: " ") {
            throw Failure(detail: "unexpected characters after the address")
        }
        return Parsed(path: path, parameters: rest.drop { $0 == UInt8(ascii: " ") })
    }

    // MARK: Pieces

    /// `@one,@two:` — validated loosely and skipped.
    private static func skipSourceRoute(_ input: ArraySlice<UInt8>, from start: Int) throws(Failure) -> Int {
        guard let colon = input[start...].firstIndex(of: UInt8(ascii: ":")),
              let close = input[start...].firstIndex(of: UInt8(ascii: ">")), colon < close
        else { throw Failure(detail: "malformed source route") }
        for hop in input[start..<colon].split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
            guard hop.first == UInt8(ascii: "@"), hop.count > 1 else { throw Failure(detail: "malformed source route") }
            _ = try validateDomain(hop.dropFirst())
        }
        return colon + 1
    }

    private static func parseMailbox(_ input: ArraySlice<UInt8>, index: inout Int, terminators: Set<UInt8>) throws(Failure) -> SMTPMailbox {
        let end = input.endIndex
        let localStart = index
        if index < end, input[index] == UInt8(ascii: "\"") {
            index += 1
            var closed = false
            while index < end {
                let byte = input[index]
                if byte == UInt8(ascii: "\\") {
                    guard index + 1 < end, (32...126).contains(input[index + 1]) || input[index + 1] >= 0x80 else {
                        throw Failure(detail: "malformed quoted local part")
                    }
                    index += 2
                } else if byte == UInt8(ascii: "\"") {
                    index += 1
                    closed = true
                    break
                } else if byte == 32 || byte == 33 || (35...91).contains(byte) || (93...126).contains(byte) || byte >= 0x80 {
                    index += 1
                } else {
                    throw Failure(detail: "invalid character in quoted local part")
                }
            }
            guard closed else { throw Failure(detail: "unterminated quoted local part") }
        } else {
            while index < end, input[index] != UInt8(ascii: "@"), !terminators.contains(input[index]) {
                guard isLocalPartCharacter(input[index]) else {
                    throw Failure(detail: "invalid character in local part")
                }
                index += 1
            }
            guard index > localStart else { throw Failure(detail: "empty local part") }
        }
        let localPart = try utf8(input[localStart..<index])

        var domain = ""
        if index < end, input[index] == UInt8(ascii: "@") {
            index += 1
            let domainStart = index
            if index < end, input[index] == UInt8(ascii: "[") {
                guard let close = input[index...].firstIndex(of: UInt8(ascii: "]")) else {
                    throw Failure(detail: "unterminated address literal")
                }
                index = close + 1
                try validateAddressLiteral(input[(domainStart + 1)..<close])
            } else {
                while index < end, !terminators.contains(input[index]), input[index] != UInt8(ascii: " ") {
                    index += 1
                }
                _ = try validateDomain(input[domainStart..<index])
            }
            domain = try utf8(input[domainStart..<index])
        } else if index < end, !terminators.contains(input[index]) {
            throw Failure(detail: "invalid character in local part")
        }
        return SMTPMailbox(localPart: localPart, domain: domain)
    }

    /// atext (RFC 5322) plus ".", anywhere (Postfix does not insist on RFC 5321's dot-atom), plus UTF-8.
    private static func isLocalPartCharacter(_ byte: UInt8) -> Bool {
        if byte >= 0x80 { return true }
        if (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
            return true
        }
        return Array("!#$%&'*+-/=?^_`{|}~.".utf8).contains(byte)
    }

    /// Dot-separated labels of letters, digits, `-`, `_` (seen in the wild) or UTF-8 (U-labels).
    @discardableResult
    private static func validateDomain(_ bytes: ArraySlice<UInt8>) throws(Failure) -> Bool {
        guard !bytes.isEmpty else { throw Failure(detail: "empty domain") }
        guard bytes.count <= 255 else { throw Failure(detail: "domain too long") }
        for label in bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            guard !label.isEmpty else { throw Failure(detail: "empty label in domain") }
            guard label.count <= 63 else { throw Failure(detail: "domain label too long") }
            for byte in label {
                let ok = byte >= 0x80
                    || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
                guard ok else { throw Failure(detail: "invalid character in domain") }
            }
        }
        return true
    }

    /// `[192.0.2.1]`, `[IPv6:2001:db8::1]` or a general literal `[tag:content]` (RFC 5321 §4.1.3).
    private static func validateAddressLiteral(_ content: ArraySlice<UInt8>) throws(Failure) {
        let text = String(decoding: content, as: UTF8.self)
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return }
        if text.lowercased().hasPrefix("ipv6:"), inet_pton(AF_INET6, String(text.dropFirst(5)), &v6) == 1 { return }
        if let colon = content.firstIndex(of: UInt8(ascii: ":")), colon > content.startIndex,
           content[content.startIndex..<colon].allSatisfy({ isLocalPartCharacter($0) && $0 < 0x80 && $0 != UInt8(ascii: ".") }),
           content[(colon + 1)...].count > 0,
           content[(colon + 1)...].allSatisfy({ (33...90).contains($0) || (94...126).contains($0) }) {
            return
        }
        throw Failure(detail: "invalid address literal")
    }

    private static func utf8(_ bytes: ArraySlice<UInt8>) throws(Failure) -> String {
        // Decoding replaces invalid sequences with U+FFFD, so a faithful round trip means valid UTF-8.
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.utf8.elementsEqual(bytes) else { throw Failure(detail: "invalid UTF-8") }
        return text
    }
}
