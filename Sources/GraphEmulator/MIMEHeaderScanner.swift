import Foundation

/// Reads what Exchange reads from a MIME message's header section: `From`, `To`, `Cc`, `Bcc`,
/// `Message-ID`, `Content-Type`.
/// Headers are unfolded; address lists are split at top-level commas, skipping quoted strings,
/// comments and group syntax; `<addr>` is preferred, else the bare addr-spec.
struct MIMEHeaderScanner {
    var from: String?
    var to: [String] = []
    var cc: [String] = []
    var bcc: [String] = []
    /// Whether a blank line separated header and body (or the message is header-only).
    var hasHeaderSection = false
    /// Every field, name lowercased, value unfolded.
    var fields: [(name: String, value: String)] = []
    /// Where the body starts (after the empty line), or the message's end.
    var bodyOffset = 0

    init(_ mime: [UInt8]) {
        // The header section ends at the first empty line.
        var lines: [String] = []
        var start = 0
        var index = 0
        let count = mime.count
        while index < count {
            if mime[index] == 10 {
                var end = index
                if end > start && mime[end - 1] == 13 { end -= 1 }
                if end == start {
                    hasHeaderSection = true
                    bodyOffset = index + 1
                    break
                }
                lines.append(String(decoding: mime[start..<end], as: UTF8.self))
                start = index + 1
            }
            index += 1
        }
        if index >= count && start < count {
            lines.append(String(decoding: mime[start..<count], as: UTF8.self))
            hasHeaderSection = true
        }
        if index >= count { bodyOffset = count }
        // Unfold.
        var fields: [(name: String, value: String)] = []
        for line in lines {
            if let first = line.first, first == " " || first == "\t", !fields.isEmpty {
                fields[fields.count - 1].1 += line
            } else if let colon = line.firstIndex(of: ":") {
                let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
                fields.append((name, String(line[line.index(after: colon)...])))
            }
        }
        for (name, value) in fields {
            switch name {
            case "from": from = Self.addresses(in: value).first
            case "to": to += Self.addresses(in: value)
            case "cc": cc += Self.addresses(in: value)
            case "bcc": bcc += Self.addresses(in: value)
            default: break
            }
        }
        self.fields = fields
    }

    /// The first field called `name` (lowercase), trimmed.
    func value(_ name: String) -> String? {
        fields.first { $0.name == name }?.value.trimmingCharacters(in: .whitespaces)
    }

    var messageID: String? { value("message-id") }

    var recipients: [String] { to + cc + bcc }

    /// The addr-specs in an address list.
    static func addresses(in value: String) -> [String] {
        var results: [String] = []
        var element = ""
        var angle: String?
        var inAngle = false
        var inQuote = false
        var commentDepth = 0
        var escaped = false
        func finish() {
            let candidate = (angle ?? element).trimmingCharacters(in: .whitespaces)
            if let at = candidate.lastIndex(of: "@"), at != candidate.startIndex, candidate.index(after: at) != candidate.endIndex,
               !candidate.contains(" ") {
                results.append(candidate)
            }
            element = ""
            angle = nil
        }
        for character in value {
            if escaped {
                escaped = false
                if inAngle { angle?.append(character) } else if !inQuote && commentDepth == 0 { element.append(character) }
                continue
            }
            if character == "\\" && (inQuote || commentDepth > 0) {
                escaped = true
                continue
            }
            if inQuote {
                if character == "\"" { inQuote = false }
                if inAngle { angle?.append(character) }
                continue
            }
            if commentDepth > 0 {
                if character == "(" { commentDepth += 1 } else if character == ")" { commentDepth -= 1 }
                continue
            }
            switch character {
            case "\"":
                inQuote = true
                if inAngle { angle?.append(character) }
            case "(":
                commentDepth = 1
            case "<":
                inAngle = true
                angle = ""
            case ">":
                inAngle = false
            case ",", ";":
                if !inAngle { finish() }
            case ":":
                if !inAngle { element = "" }  // group name
            default:
                if inAngle { angle?.append(character) } else { element.append(character) }
            }
        }
        finish()
        return results
    }
}
