import Foundation

/// The message a sent draft becomes, as recipients would get it: a MIME draft with its added
/// attachments as parts of its `multipart/mixed` (or of one wrapped around it), a JSON draft as
/// the MIME Exchange would generate from its properties.
enum GraphEmulatorComposer {
    static func compose(_ draft: GraphEmulatorDraft) -> [UInt8] {
        switch draft.source {
        case .mime(let mime):
            return draft.attachments.isEmpty ? mime : addParts(draft.attachments, to: mime)
        case .json(let message):
            return json(message, mailbox: draft.mailbox, attachments: draft.attachments)
        }
    }

    /// Inserts the attachments before the closing boundary of a `multipart/mixed` message, or
    /// wraps a message of another type in a new `multipart/mixed`.
    static func addParts(_ attachments: [GraphEmulatorAttachment], to mime: [UInt8]) -> [UInt8] {
        let headers = MIMEHeaderScanner(mime)
        let contentType = headers.value("content-type") ?? "text/plain"
        if contentType.lowercased().hasPrefix("multipart/mixed"), let boundary = boundary(contentType),
            let close = lastRange(of: Array("\r\n--\(boundary)--".utf8), in: mime) {
            var out = Array(mime[..<close.lowerBound])
            for attachment in attachments { out += Array("\r\n--\(boundary)\r\n".utf8) + part(attachment) }
            return out + Array(mime[close.lowerBound...])
        }
        let boundary = "emulator-" + UUID().uuidString
        let body = Array(mime[headers.bodyOffset...])
        var top = "", inner = ""
        for line in headerLines(mime, end: headers.bodyOffset) {
            if line.lowercased().hasPrefix("content-") { inner += line } else { top += line }
        }
        var out = Array((top + "Content-Type: multipart/mixed; boundary=\"\(boundary)\"\r\n\r\n--\(boundary)\r\n" + inner + "\r\n").utf8)
        out += body
        for attachment in attachments { out += Array("\r\n--\(boundary)\r\n".utf8) + part(attachment) }
        return out + Array("\r\n--\(boundary)--\r\n".utf8)
    }

    /// A JSON draft as MIME.
    static func json(_ message: GraphEmulatorJSONMessage, mailbox: String, attachments: [GraphEmulatorAttachment]) -> [UInt8] {
        var head = ""
        let from = message.from ?? mailbox
        head += "From: " + (message.fromName.map { "\(encodedWord($0)) <\(from)>" } ?? from) + "\r\n"
        if !message.to.isEmpty { head += "To: " + message.to.joined(separator: ", ") + "\r\n" }
        if !message.cc.isEmpty { head += "Cc: " + message.cc.joined(separator: ", ") + "\r\n" }
        if !message.bcc.isEmpty { head += "Bcc: " + message.bcc.joined(separator: ", ") + "\r\n" }
        if !message.replyTo.isEmpty { head += "Reply-To: " + message.replyTo.joined(separator: ", ") + "\r\n" }
        head += "Subject: " + encodedWord(message.subject ?? "") + "\r\n"
        head += "Message-ID: " + (message.internetMessageID ?? "<\(UUID().uuidString)@emulator.invalid>") + "\r\n"
        for (name, value) in message.headers { head += "\(name): \(value)\r\n" }
        head += "MIME-Version: 1.0\r\n"
        let bodyPart = "Content-Type: text/\(message.bodyType == "html" ? "html" : "plain"); charset=utf-8\r\n"
            + "Content-Transfer-Encoding: base64\r\n\r\n" + base64Lines(Array(message.body.utf8))
        guard !attachments.isEmpty else { return Array((head + bodyPart + "\r\n").utf8) }
        let boundary = "emulator-" + UUID().uuidString
        var out = Array((head + "Content-Type: multipart/mixed; boundary=\"\(boundary)\"\r\n\r\n--\(boundary)\r\n" + bodyPart).utf8)
        for attachment in attachments { out += Array("\r\n--\(boundary)\r\n".utf8) + part(attachment) }
        return out + Array("\r\n--\(boundary)--\r\n".utf8)
    }

    /// One attachment as a MIME body part (without the trailing line break).
    static func part(_ attachment: GraphEmulatorAttachment) -> [UInt8] {
        let name = attachment.name.unicodeScalars.allSatisfy { $0.isASCII && $0 != "\"" && $0 != "\\" }
            ? "filename=\"\(attachment.name)\""
            : "filename*=UTF-8''" + (attachment.name.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "attachment")
        var text = "Content-Type: \(attachment.contentType)\r\n"
        text += "Content-Disposition: \(attachment.isInline ? "inline" : "attachment"); \(name)\r\n"
        if let contentID = attachment.contentID { text += "Content-ID: <\(contentID)>\r\n" }
        text += "Content-Transfer-Encoding: base64\r\n\r\n"
        return Array(text.utf8) + Array(base64Lines(attachment.content ?? []).utf8)
    }

    static func base64Lines(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed])
    }

    static func encodedWord(_ text: String) -> String {
        text.unicodeScalars.allSatisfy { $0.isASCII && $0.value >= 0x20 } ? text : "=?UTF-8?B?\(Data(text.utf8).base64EncodedString())?="
    }

    static func boundary(_ contentType: String) -> String? {
        guard let range = contentType.range(of: "boundary=", options: .caseInsensitive) else { return nil }
        var value = contentType[range.upperBound...]
        if value.hasPrefix("\"") {
            value = value.dropFirst()
            return value.firstIndex(of: "\"").map { String(value[..<$0]) }
        }
        return String(value.prefix { $0 != ";" && $0 != " " })
    }

    /// The header lines (each with its line break; continuation lines joined to their field).
    static func headerLines(_ mime: [UInt8], end: Int) -> [String] {
        var lines: [String] = []
        for line in String(decoding: mime[..<end], as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: true) {
            if let first = line.first, first == " " || first == "\t", !lines.isEmpty {
                lines[lines.count - 1] += line + "\r\n"
            } else {
                lines.append(String(line) + "\r\n")
            }
        }
        return lines
    }

    static func lastRange(of needle: [UInt8], in haystack: [UInt8]) -> Range<Int>? {
        guard needle.count <= haystack.count else { return nil }
        var start = haystack.count - needle.count
        while start >= 0 {
            if haystack[start] == needle[0] && Array(haystack[start..<(start + needle.count)]) == needle {
                return start..<(start + needle.count)
            }
            start -= 1
        }
        return nil
    }
}
