import Foundation
import GraphRelayMIME
import NIOCore

/// Messages for the MIME tests, built as a scanner or a printer would send them.
enum MIMEFixtures {
    /// Deterministic pseudo-random bytes (a "PDF" the tests can compare bit for bit).
    static func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed &+ 0x9E37_79B9_7F4A_7C15
        var out = [UInt8]()
        out.reserveCapacity(count)
        while out.count < count {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            var word = state
            for _ in 0..<8 where out.count < count {
                out.append(UInt8(truncatingIfNeeded: word >> 56))
                word <<= 8
            }
        }
        return out
    }

    /// Base64 with 76-character lines and CRLF, as MIME writers produce it.
    static func base64Lines(_ bytes: [UInt8]) -> String {
        let text = Data(bytes).base64EncodedString()
        var lines: [Substring] = []
        var index = text.startIndex
        while index < text.endIndex {
            let end = text.index(index, offsetBy: 76, limitedBy: text.endIndex) ?? text.endIndex
            lines.append(text[index..<end])
            index = end
        }
        return lines.joined(separator: "\r\n")
    }

    static func scan(_ text: String, chunkSize: Int = 1 << 20) -> MIMEStructure {
        scan(Array(text.utf8), chunkSize: chunkSize)
    }

    static func scan(_ bytes: [UInt8], chunkSize: Int = 1 << 20) -> MIMEStructure {
        var scanner = MIMEScanner()
        var index = 0
        while index < bytes.count {
            let end = min(bytes.count, index + chunkSize)
            bytes[index..<end].withUnsafeBytes { scanner.scan($0) }
            index = end
        }
        return scanner.finish()
    }

    /// The bytes of `range`.
    static func text(_ bytes: [UInt8], _ range: Range<Int>) -> String {
        String(decoding: bytes[range], as: UTF8.self)
    }

    /// The remainder of a plan as bytes.
    static func remainder(_ plan: MIMEExtractionPlan, of message: [UInt8]) -> [UInt8] {
        plan.remainder.flatMap { segment -> [UInt8] in
            switch segment {
            case .original(let range): Array(message[range])
            case .inserted(let bytes): bytes
            }
        }
    }

    /// A part's decoded content.
    static func decoded(_ entity: MIMEEntity, in message: [UInt8]) throws -> [UInt8] {
        var decoder = MIMETransferDecoder(entity.transferEncoding)
        var output: ByteBuffer? = ByteBuffer()
        try message[entity.bodyRange].withUnsafeBytes { try decoder.decode($0, into: &output) }
        try decoder.finish(into: &output)
        return Array(output!.readableBytesView)
    }

    /// A scan-to-email message: a short text body, an HTML alternative with an inline logo, and
    /// two PDF attachments.
    static func scannerMessage(pdf1: [UInt8], pdf2: [UInt8], logo: [UInt8] = bytes(3000, seed: 7)) -> String {
        """
        Received: from printer.local by relay.example; Mon, 1 Dec 2026 10:00:00 +0000\r
        From: Scanner <scanner@contoso.com>\r
        To: alice@contoso.com\r
        Subject: =?UTF-8?B?U2NhbiDigJMgMjAyNg==?=\r
        Message-ID: <scan-1@printer.local>\r
        X-Printer: MFP-4000\r
        MIME-Version: 1.0\r
        Content-Type: multipart/mixed; boundary="==outer=="\r
        \r
        This is a multi-part message in MIME format.\r
        --==outer==\r
        Content-Type: multipart/related; boundary="rel"\r
        \r
        --rel\r
        Content-Type: multipart/alternative; boundary=alt\r
        \r
        --alt\r
        Content-Type: text/plain; charset=utf-8\r
        Content-Transfer-Encoding: quoted-printable\r
        \r
        Scan attached =E2=80=93 two documents.\r
        --alt\r
        Content-Type: text/html; charset=utf-8\r
        \r
        <p>Scan attached <img src="cid:logo@printer"></p>\r
        --alt--\r
        --rel\r
        Content-Type: image/png; name=logo.png\r
        Content-ID: <logo@printer>\r
        Content-Disposition: inline; filename=logo.png\r
        Content-Transfer-Encoding: base64\r
        \r
        \(base64Lines(logo))\r
        --rel--\r
        --==outer==\r
        Content-Type: application/pdf; name="scan 1.pdf"\r
        Content-Disposition: attachment; filename="scan 1.pdf"\r
        Content-Transfer-Encoding: base64\r
        \r
        \(base64Lines(pdf1))\r
        --==outer==\r
        Content-Type: application/pdf\r
        Content-Disposition: attachment;\r
         filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf\r
        Content-Transfer-Encoding: base64\r
        \r
        \(base64Lines(pdf2))\r
        --==outer==--\r
        epilogue\r

        """
    }
}
