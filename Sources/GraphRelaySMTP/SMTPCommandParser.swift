/// Turns one command line (without its CRLF) into an ``SMTPCommand`` or the reply explaining why
/// it is not one. Verbs are case-insensitive. Pure: no state, no I/O.
///
/// Forgiving where old devices need it, as Postfix is: `MAIL FROM: <a@b>` (space after the colon),
/// `MAIL FROM:a@b` (no angle brackets), unqualified senders, trailing spaces after argument-less
/// commands, dots anywhere in a local part. Strict where it protects mail: unknown ESMTP
/// parameters, invalid UTF-8 in addresses, malformed `BDAT` sizes.
enum SMTPCommandParser {
    enum Outcome: Sendable, Hashable {
        case command(SMTPCommand)
        /// A reply to send instead (syntax error, unknown command, unsupported parameter).
        case failure(SMTPReply)
        /// `BDAT` whose size cannot be read: the chunk boundary is unknown, so the session cannot
        /// continue safely.
        case malformedChunk(SMTPReply)
    }

    /// The maximum length of a reverse or forward path including the angle brackets (RFC 5321 §4.5.3.1.3).
    static let maximumPathLength = 256

    static func parse(_ line: [UInt8]) -> Outcome {
        let verbEnd = line.firstIndex(of: UInt8(ascii: " ")) ?? line.endIndex
        guard verbEnd - line.startIndex <= 10 else { return .failure(.commandUnrecognized) }
        let verb = String(decoding: line[line.startIndex..<verbEnd], as: UTF8.self).uppercased()
        let arguments = line[verbEnd...].drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        let trimmed = trimTrailingSpace(arguments)

        switch verb {
        case "EHLO", "HELO":
            guard !trimmed.isEmpty else { return .failure(.syntax("\(verb) hostname")) }
            let name = String(decoding: trimmed, as: UTF8.self)
            return .command(verb == "EHLO" ? .ehlo(name) : .helo(name))
        case "MAIL":
            return parseMail(trimmed)
        case "RCPT":
            return parseRcpt(trimmed)
        case "DATA":
            return trimmed.isEmpty ? .command(.data) : .failure(.syntax("DATA"))
        case "BDAT":
            return parseBDAT(trimmed)
        case "RSET":
            return trimmed.isEmpty ? .command(.rset) : .failure(.syntax("RSET"))
        case "NOOP":
            return .command(.noop)
        case "QUIT":
            return trimmed.isEmpty ? .command(.quit) : .failure(.syntax("QUIT"))
        case "VRFY":
            guard !trimmed.isEmpty else { return .failure(.syntax("VRFY address")) }
            return .command(.vrfy(String(decoding: trimmed, as: UTF8.self)))
        case "EXPN":
            return .command(.expn)
        case "HELP":
            return .command(.help)
        case "STARTTLS":
            return trimmed.isEmpty ? .command(.startTLS) : .failure(.syntax("STARTTLS"))
        case "AUTH":
            let words = trimmed.split(separator: UInt8(ascii: " "))
            guard (1...2).contains(words.count) else { return .failure(.syntax("AUTH mechanism [initial-response]")) }
            let mechanism = String(decoding: words[0], as: UTF8.self).uppercased()
            let initial = words.count == 2 ? String(decoding: words[1], as: UTF8.self) : nil
            return .command(.auth(mechanism: mechanism, initialResponse: initial))
        default:
            return .failure(.commandUnrecognized)
        }
    }

    // MARK: MAIL and RCPT

    private static func parseMail(_ arguments: ArraySlice<UInt8>) -> Outcome {
        guard let rest = dropKeyword("FROM:", from: arguments) else { return .failure(.syntax("MAIL FROM:<address>")) }
        let parsed: SMTPPathParser.Parsed
        do {
            parsed = try SMTPPathParser.parse(rest)
        } catch {
            return .failure(.badSenderSyntax(error.detail))
        }
        let path: SMTPReversePath
        switch parsed.path {
        case .null: path = .null
        case .mailbox(let mailbox): path = .mailbox(mailbox)
        }
        switch parseMailParameters(parsed.parameters) {
        case .success(let parameters):
            if let mailbox = path.mailbox, !mailbox.isASCII, !parameters.smtpUTF8 {
                return .failure(.smtpUTF8Required)
            }
            return .command(.mail(path, parameters))
        case .failure(let reply):
            return .failure(reply)
        }
    }

    private static func parseRcpt(_ arguments: ArraySlice<UInt8>) -> Outcome {
        guard let rest = dropKeyword("TO:", from: arguments) else { return .failure(.syntax("RCPT TO:<address>")) }
        let parsed: SMTPPathParser.Parsed
        do {
            parsed = try SMTPPathParser.parse(rest)
        } catch {
            return .failure(.badRecipientSyntax(error.detail))
        }
        let path: SMTPForwardPath
        switch parsed.path {
        case .null:
            return .failure(.badRecipientSyntax("null recipient"))
        case .mailbox(let mailbox) where mailbox.domain.isEmpty:
            guard mailbox.localPart.lowercased() == "postmaster" else {
                return .failure(.badRecipientSyntax("domain name required"))
            }
            path = .postmaster
        case .mailbox(let mailbox):
            path = .mailbox(mailbox)
        }
        // No RCPT parameters are advertised (no DSN): every one is unsupported.
        if let first = parameterWords(parsed.parameters).first {
            let name = first.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)[0]
            return .failure(.unsupportedParameter(String(decoding: name, as: UTF8.self).uppercased()))
        }
        return .command(.rcpt(path))
    }

    /// `FROM:` / `TO:` (case-insensitive), then optional spaces.
    private static func dropKeyword(_ keyword: String, from arguments: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        let expected = Array(keyword.utf8)
        guard arguments.count >= expected.count else { return nil }
        let head = arguments.prefix(expected.count)
        guard zip(head, expected).allSatisfy({ asciiUppercased($0) == $1 }) else { return nil }
        return arguments.dropFirst(expected.count).drop { $0 == UInt8(ascii: " ") }
    }

    private static func parameterWords(_ text: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        text.split(separator: UInt8(ascii: " "))
    }

    enum ParametersOutcome: Hashable {
        case success(SMTPMailParameters)
        case failure(SMTPReply)
    }

    static func parseMailParameters(_ text: ArraySlice<UInt8>) -> ParametersOutcome {
        var parameters = SMTPMailParameters()
        var seen: Set<String> = []
        for word in parameterWords(text) {
            let parts = word.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            let keywordBytes = parts[0]
            guard let firstByte = keywordBytes.first, isAlphaNumeric(firstByte),
                  keywordBytes.allSatisfy({ isAlphaNumeric($0) || $0 == UInt8(ascii: "-") })
            else {
                return .failure(.badParameter("malformed parameter \"\(String(decoding: word, as: UTF8.self))\""))
            }
            let keyword = String(decoding: keywordBytes, as: UTF8.self).uppercased()
            let value: String?
            if parts.count == 2 {
                let valueBytes = parts[1]
                guard !valueBytes.isEmpty,
                      valueBytes.allSatisfy({ ($0 >= 33 && $0 <= 126 && $0 != UInt8(ascii: "=")) || $0 >= 0x80 })
                else {
                    return .failure(.badParameter("malformed value of \(keyword)"))
                }
                value = String(decoding: valueBytes, as: UTF8.self)
            } else {
                value = nil
            }
            guard seen.insert(keyword).inserted else { return .failure(.badParameter("duplicate \(keyword)")) }
            switch keyword {
            case "SIZE":
                guard let value, value.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
                    return .failure(.badParameter("SIZE needs a number of octets"))
                }
                // A number too large for Int is certainly over any limit.
                parameters.size = Int(value) ?? Int.max
            case "BODY":
                guard let value else { return .failure(.badParameter("BODY needs a value")) }
                switch value.uppercased() {
                case "7BIT": parameters.body = .sevenBit
                case "8BITMIME": parameters.body = .eightBitMIME
                case "BINARYMIME": return .failure(.unsupportedParameter("BODY=BINARYMIME"))
                default: return .failure(.badParameter("BODY must be 7BIT or 8BITMIME"))
                }
            case "SMTPUTF8":
                guard value == nil else { return .failure(.badParameter("SMTPUTF8 takes no value")) }
                parameters.smtpUTF8 = true
            case "AUTH":
                guard let value else { return .failure(.badParameter("AUTH needs a value")) }
                parameters.auth = value
            default:
                return .failure(.unsupportedParameter(keyword))
            }
        }
        return .success(parameters)
    }

    // MARK: BDAT

    private static func parseBDAT(_ arguments: ArraySlice<UInt8>) -> Outcome {
        let words = arguments.split(separator: UInt8(ascii: " "))
        let usage = SMTPReply.syntax("BDAT chunk-size [LAST]")
        guard (1...2).contains(words.count),
              (1...18).contains(words[0].count),
              words[0].allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let size = Int(String(decoding: words[0], as: UTF8.self))
        else { return .malformedChunk(usage) }
        var last = false
        if words.count == 2 {
            guard String(decoding: words[1], as: UTF8.self).uppercased() == "LAST" else { return .malformedChunk(usage) }
            last = true
        }
        return .command(.bdat(size: size, last: last))
    }

    // MARK: Helpers

    private static func trimTrailingSpace(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var end = bytes.endIndex
        while end > bytes.startIndex, bytes[end - 1] == UInt8(ascii: " ") || bytes[end - 1] == UInt8(ascii: "\t") {
            end -= 1
        }
        return bytes[bytes.startIndex..<end]
    }

    static func asciiUppercased(_ byte: UInt8) -> UInt8 {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) ? byte - 32 : byte
    }

    private static func isAlphaNumeric(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }
}
