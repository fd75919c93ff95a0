import Foundation
import GraphRelayMIME

/// Reads what Exchange reads from a MIME message's header section: `From`, `To`, `Cc`, `Bcc`,
/// `Message-ID`, `Content-Type`. The section and its fields come from the mail-format core
/// (`HeaderBoundaryScanner`, `MIMEHeaderField`); the address lists are read here, independently of
/// the relay's parser, so that the stand-in checks the relay rather than agreeing with it: split
/// at top-level commas, skipping quoted strings, comments and group syntax; `<addr>` is preferred,
/// else the bare addr-spec.
struct MIMEHeaderScanner {
    var from: String?
    var to: [String] = []
    var cc: [String] = []
    var bcc: [String] = []
    /// Every field, name lowercased, value unfolded.
    var fields: [(name: String, value: String)] = []
    /// Where the body starts (after the empty line), or the message's end.
    var bodyOffset = 0

    init(_ mime: [UInt8]) {
        // The header section and its fields, found as the relay finds them.
        let section: ArraySlice<UInt8>
        switch HeaderBoundaryScanner.outcome(of: mime, isComplete: true, limit: .max) {
        case .complete(let span):
            section = mime[..<span.headerLength]
            bodyOffset = span.bodyOffset
        case .needMoreData, .tooLong:
            section = mime[...]
            bodyOffset = mime.count
        }
        let fields = MIMEHeaderField.split(Array(section), offset: 0).map { ($0.name.lowercased(), String(decoding: $0.value, as: UTF8.self)) }
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
