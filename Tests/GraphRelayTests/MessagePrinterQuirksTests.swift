import Foundation
import Testing
@testable import GraphRelay

/// Header shapes seen from scanners, printers and embedded mailers.
@Suite("Message quirks from devices")
struct MessagePrinterQuirksTests {
    let mailbox = "scanner@contoso.com"

    @Test("empty angle address with only a name: the name is kept")
    func emptyAngle() throws {
        let (output, _) = try rewritten("From: \"Canon iR-ADV C5535\" <>\r\nTo: a@contoso.com\r\n\r\n", HeaderRewriteOptions(rewriteFrom: mailbox))
        #expect(output == "From: \"Canon iR-ADV C5535\" <scanner@contoso.com>\r\nTo: a@contoso.com\r\n\r\n")
        let (bare, _) = try rewritten("From: root\r\n\r\n", HeaderRewriteOptions(rewriteFrom: mailbox))
        #expect(bare == "From: \"root\" <scanner@contoso.com>\r\n\r\n")
        let (null, _) = try rewritten("From: <>\r\n\r\n", HeaderRewriteOptions(rewriteFrom: mailbox))
        #expect(null == "From: scanner@contoso.com\r\n\r\n")
    }

    @Test("lists without blanks, angle-only addresses, address-like display names in To")
    func compactLists() throws {
        let message = "To: <user1@contoso.com>,<user2@contoso.com>\r\nCc: \"user3@contoso.com\" <user3@contoso.com>\r\n\r\n"
        let (output, result) = try rewritten(message, HeaderRewriteOptions(envelopeRecipients: ["user1@contoso.com", "user2@contoso.com", "user3@contoso.com"]))
        #expect(output == message)
        #expect(result.recipients.addedToBcc.isEmpty)
    }

    @Test("no Date, no Message-ID, bare LF, trailing blanks, ISO-2022-JP subject")
    func minimalDevice() throws {
        let message = "From: scan@printer.local \nTo: user@contoso.com\t\nSubject: =?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=\n\nscan attached\n"
        var (head, body) = try parseHead(message)
        let result = head.rewrite(HeaderRewriteOptions(envelopeRecipients: ["user@contoso.com", "boss@contoso.com"],
                                                       rewriteFrom: mailbox, messageIDDomain: "relay.contoso.com"))
        let id = try #require(result.messageID)
        #expect(text(head.bytes + body) == """
            From: "scan at printer.local" <scanner@contoso.com>\nTo: user@contoso.com\t\nSubject: =?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=\nBcc: boss@contoso.com\nMessage-ID: \(id)\n\nscan attached\n
            """)
    }

    @Test("display name hiding an address in an encoded word in To does not confuse the recipient check")
    func encodedAddressInTo() throws {
        let message = "To: =?UTF-8?Q?user@contoso.com?= <user@contoso.com>\r\n\r\n"
        let (output, _) = try rewritten(message, HeaderRewriteOptions(envelopeRecipients: ["user@contoso.com"]))
        #expect(output == message)
    }

    @Test("headers with a very long folded To from a multifunction device's address book")
    func longFoldedTo() throws {
        let recipients = (1...60).map { "person\($0)@contoso.com" }
        let to = "To: " + recipients.enumerated().map { $0.offset % 3 == 2 ? $0.element + ",\r\n\t" : $0.element + ", " }.joined()
            .trimmingCharacters(in: CharacterSet(charactersIn: ", \r\n\t"))
        let message = to + "\r\nSubject: x\r\n\r\n"
        let (output, result) = try rewritten(message, HeaderRewriteOptions(envelopeRecipients: recipients))
        #expect(output == message)
        #expect(result.recipients.addedToBcc.isEmpty)
    }

    @Test("Resent-To and X- fields with addresses are not recipients")
    func nonRecipientFields() throws {
        let (output, result) = try rewritten("Resent-To: a@contoso.com\r\nX-Original-To: a@contoso.com\r\nReply-To: a@contoso.com\r\n\r\n",
                                             HeaderRewriteOptions(envelopeRecipients: ["a@contoso.com"]))
        #expect(output == "Resent-To: a@contoso.com\r\nX-Original-To: a@contoso.com\r\nReply-To: a@contoso.com\r\nBcc: a@contoso.com\r\n\r\n")
        #expect(result.recipients.addedToBcc == ["a@contoso.com"])
    }
}
