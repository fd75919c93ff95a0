/// Client-supplied text made safe for one log line or a terminal.
///
/// AUTH user names, HELO names, addresses and header fields come from whoever connects. Written
/// raw, a CR or LF forges log lines, an ESC sequence rewrites an operator's terminal, and a NUL or
/// a bidirectional override hides what follows. ``escaped(_:)`` keeps printable text (any script)
/// as it is and writes everything else visibly: `\r`, `\n`, `\t`, `\0`, `\\`, `\x1B` for other
/// C0 controls and DEL, `\u{85}` for C1 controls and `\u{202E}` for bidirectional formatting
/// characters. The result never contains a control character, and telling `\` apart keeps it
/// unambiguous.
public enum UntrustedText {
    public static func escaped(_ text: String) -> String {
        // The common case, printable ASCII without a backslash, is decided on the UTF-8 bytes.
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != 0x5C }) { return text }
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var result = ""
        result.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar) else {
                result.unicodeScalars.append(scalar)
                continue
            }
            switch scalar {
            case "\r": result += "\\r"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\0": result += "\\0"
            case "\\": result += "\\\\"
            default:
                let hex = String(scalar.value, radix: 16, uppercase: true)
                if scalar.value < 0x80 {
                    result += "\\x" + (hex.count < 2 ? "0" : "") + hex
                } else {
                    result += "\\u{" + hex + "}"
                }
            }
        }
        return result
    }

    /// Raw bytes (e.g. a header line from the spool) decoded as UTF-8, invalid sequences shown as
    /// U+FFFD, then escaped.
    public static func escaped<Bytes: Sequence>(bytes: Bytes) -> String where Bytes.Element == UInt8 {
        escaped(String(decoding: Array(bytes), as: UTF8.self))
    }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x5C, 0x7F, 0x80...0x9F: true
        case 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: true  // bidirectional formatting
        case 0x2028, 0x2029: true  // line and paragraph separators
        default: false
        }
    }

    /// `text` on one line: control characters become spaces, runs of spaces one, and beyond
    /// `limit` characters it is cut with `...` (bounce reasons, queue listings).
    public static func oneLine(_ text: String, limit: Int) -> String {
        let cleaned = String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : $0 }))
        let collapsed = cleaned.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        return collapsed.count > limit ? String(collapsed.prefix(limit)) + "..." : collapsed
    }
}
