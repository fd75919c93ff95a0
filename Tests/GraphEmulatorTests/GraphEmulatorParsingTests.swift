import Foundation
import Testing
@testable import GraphEmulator

@Suite("Graph emulator parsing")
struct GraphEmulatorParsingTests {
    @Test func headerScannerFindsAddressesLikeExchange() {
        let mime = Array("""
        From: "Scanner, Floor 2" <scanner@contoso.com>
        To: Alice <alice@example.com>, "Bob (work)" <bob@example.com>,
         carol@example.com (Carol)
        Cc: team: dave@example.com, erin@example.com;
        Bcc: =?utf-8?q?Fr=C3=A9d?= <fred@example.com>
        X-Note: not@an-address.example
        Subject: hi

        To: body@example.com
        """.replacingOccurrences(of: "\n", with: "\r\n").utf8)
        let headers = MIMEHeaderScanner(mime)
        #expect(headers.from == "scanner@contoso.com")
        #expect(headers.to == ["alice@example.com", "bob@example.com", "carol@example.com"])
        #expect(headers.cc == ["dave@example.com", "erin@example.com"])
        #expect(headers.bcc == ["fred@example.com"])
        #expect(String(decoding: mime[headers.bodyOffset...], as: UTF8.self) == "To: body@example.com", "the body starts after the empty line")
    }

    @Test func headerScannerWithoutRecipients() {
        let headers = MIMEHeaderScanner(Array("Subject: none\nTo: undisclosed-recipients:;\n\nbody".utf8))
        #expect(headers.recipients.isEmpty)
        let headerOnly = MIMEHeaderScanner(Array("Subject: only\r\nTo: a@b.example\r\n".utf8))
        #expect(headerOnly.to == ["a@b.example"] && headerOnly.bodyOffset == 32, "no empty line: all header, no body")
    }

    @Test func routes() {
        #expect(GraphEmulatorEngine.route(for: "/contoso.onmicrosoft.com/oauth2/v2.0/token") == .token(tenant: "contoso.onmicrosoft.com"))
        #expect(GraphEmulatorEngine.route(for: "/v1.0/users/first%2Btag@x.com/sendMail") == .sendMail(mailbox: "first+tag@x.com"))
        #expect(GraphEmulatorEngine.route(for: "/v1.0/me/sendMail") == .me)
        #expect(GraphEmulatorEngine.route(for: "/v1.0/users/a@b/messages") == .messages(mailbox: "a@b"))
        #expect(GraphEmulatorEngine.route(for: "/v1.0/users/a@b/messages/AAM%2Fx%3D/attachments/createUploadSession")
                == .message(mailbox: "a@b", id: "AAM/x=", rest: ["attachments", "createUploadSession"]))
        #expect(GraphEmulatorEngine.route(for: "/v1.0/users/a@b/messages/id/send") == .message(mailbox: "a@b", id: "id", rest: ["send"]))
        #expect(GraphEmulatorEngine.route(for: "/v1.0/users/a@b/mailFolders/drafts/messages?%24filter=x") == .draftsFolder(mailbox: "a@b"))
        #expect(GraphEmulatorEngine.route(for: "/upload/abc?authtoken=t") == .upload(session: "abc"))
        #expect(GraphEmulatorEngine.route(for: "/v1.0/users/a@b/events") == .unknown(segment: "events"))
    }
}
