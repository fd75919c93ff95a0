import COpenSSL
import Foundation
import GraphRelayTestSupport

/// Large messages as scanners send them, and the tools to check what Graph received.
enum LargeMessageFixtures {
    /// Deterministic pseudo-random content (a "PDF" compared bit for bit).
    static func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var words = [UInt64](repeating: 0, count: (count + 7) / 8)
        var state = seed &+ 0x9E37_79B9_7F4A_7C15
        for index in words.indices {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            words[index] = state ^ (state >> 29)
        }
        return words.withUnsafeBytes { Array($0.prefix(count)) }
    }

    /// Base64 in 76-character lines with CRLF, as MIME writers produce it.
    static func base64Lines(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed])
    }

    static func sha256(_ bytes: [UInt8]) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        bytes.withUnsafeBytes { _ = EVP_Digest($0.baseAddress, $0.count, &digest, &length, EVP_sha256(), nil) }
        return digest.map { String(format: "%02x", $0) }.joined()
    }

    /// A scan-to-email message: a text and an HTML body with an inline logo, and the PDFs as
    /// attachments (the second one with an RFC 2231 name).
    static func scan(from: String, to: String, messageID: String, pdfs: [[UInt8]], logo: [UInt8] = bytes(2000, seed: 99),
                     subject: String = "=?UTF-8?B?U2NhbiDigJMgRmFjdHVyZQ==?=") -> [UInt8] {
        var text = """
            From: Scanner <\(from)>\r
            To: \(to)\r
            Subject: \(subject)\r
            Message-ID: \(messageID)\r
            Date: Thu, 03 Dec 2026 09:00:00 +0100\r
            X-Printer: MFP-4000 (building 2)\r
            MIME-Version: 1.0\r
            Content-Type: multipart/mixed; boundary="==scan=="\r
            \r
            --==scan==\r
            Content-Type: multipart/related; boundary="rel"\r
            \r
            --rel\r
            Content-Type: multipart/alternative; boundary="alt"\r
            \r
            --alt\r
            Content-Type: text/plain; charset=utf-8\r
            Content-Transfer-Encoding: quoted-printable\r
            \r
            Your scan =E2=80=93 \(pdfs.count) documents.\r
            --alt\r
            Content-Type: text/html; charset=utf-8\r
            \r
            <p>Your scan &ndash; \(pdfs.count) documents <img src="cid:logo@mfp"></p>\r
            --alt--\r
            --rel\r
            Content-Type: image/png\r
            Content-ID: <logo@mfp>\r
            Content-Transfer-Encoding: base64\r
            \r
            \(base64Lines(logo))\r
            --rel--\r

            """
        for (index, pdf) in pdfs.enumerated() {
            let disposition = index == 1 ? "attachment; filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf" : "attachment; filename=\"scan \(index + 1).pdf\""
            text += "--==scan==\r\nContent-Type: application/pdf\r\nContent-Disposition: \(disposition)\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            text += base64Lines(pdf) + "\r\n"
        }
        text += "--==scan==--\r\n"
        return Array(text.utf8)
    }

    /// A message as Python's `email` package reads it (an independent MIME parser): its header
    /// fields and, per attachment, name, type, Content-ID and SHA-256 of the decoded content.
    struct Parsed: Decodable, Sendable {
        struct Part: Decodable, Sendable, Equatable {
            var filename: String?
            var contentType: String
            var contentID: String?
            var sha256: String
            var size: Int
        }

        var headers: [String: [String]]
        var attachments: [Part]
        var texts: [String]
    }

    static func parse(_ path: String) async throws -> Parsed {
        let script = """
            import email, email.policy, hashlib, json, sys
            with open(sys.argv[1], 'rb') as f:
                m = email.message_from_binary_file(f, policy=email.policy.default)
            headers = {}
            for k, v in m.items():
                headers.setdefault(k.lower(), []).append(str(v))
            parts, texts = [], []
            for p in m.walk():
                if p.is_multipart():
                    continue
                data = p.get_payload(decode=True) or b''
                if p.get_content_maintype() == 'text' and p.get_filename() is None and p.get('Content-ID') is None:
                    texts.append(data.decode(p.get_content_charset() or 'ascii', 'replace'))
                    continue
                parts.append({'filename': p.get_filename(), 'contentType': p.get_content_type(),
                              'contentID': (p.get('Content-ID') or '').strip('<>') or None,
                              'sha256': hashlib.sha256(data).hexdigest(), 'size': len(data)})
            print(json.dumps({'headers': headers, 'attachments': parts, 'texts': texts}))
            """
        let result = try await ProcessRunner.run("python3", ["-c", script, path], timeout: 60)
        guard result.status == 0 else { throw QueueTestError("python could not parse \(path): \(result.stderr)") }
        return try JSONDecoder().decode(Parsed.self, from: Data(result.stdout.utf8))
    }
}
