/// Minimal JSON string quoting (RFC 8259 §7): for the spool's metadata, the JWT claims and the
/// JSON log lines. `"` and `\` are escaped, control characters written as `\n`, `\r`, `\t` or
/// `\u00XX`; everything else (`/` and non-ASCII included) is kept as it is.
public enum JSONString {
    public static func quote(_ value: String) -> String {
        var out = "\""
        append(value, to: &out)
        out += "\""
        return out
    }

    /// Appends `value` quoted to `bytes` (UTF-8).
    public static func appendQuoted(_ value: String, to bytes: inout [UInt8]) {
        if needsNoEscaping(value) {
            bytes.append(UInt8(ascii: "\""))
            bytes.append(contentsOf: value.utf8)
            bytes.append(UInt8(ascii: "\""))
        } else {
            bytes.append(contentsOf: quote(value).utf8)
        }
    }

    private static func needsNoEscaping(_ value: String) -> Bool {
        value.utf8.allSatisfy { $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
    }

    private static func append(_ value: String, to out: inout String) {
        // Most values need no escaping: decided on the UTF-8 bytes, copied in one piece.
        if needsNoEscaping(value) {
            out += value
            return
        }
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
    }
}
