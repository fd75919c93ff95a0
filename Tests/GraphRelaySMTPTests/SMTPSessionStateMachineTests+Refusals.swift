import NIOCore
import Testing
@testable import GraphRelaySMTP

/// `.refused`: what the metrics count as a refused MAIL FROM, RCPT TO or message.
extension SMTPSessionStateMachineTests {
    @Test("refusals: policy rejections, a SIZE over the limit, too many recipients, no valid recipients, an oversized message and a negative delivery answer; not syntax errors or bad sequence")
    func refusals() {
        var limits = SMTPLimits()
        limits.maximumMessageSize = 64
        limits.maximumRecipients = 1
        var harness = greeted(Harness.configuration(limits: limits))
        harness.senderDecision = { $0.address.hasPrefix("blocked") ? .reject(SMTPReply(550, "5.7.1", "no")) : .accept }
        harness.recipientDecision = { $0.address.hasPrefix("bad") ? .reject(SMTPReply(550, "5.1.1", "no such user")) : .accept }
        harness.send("EHLO client\r\nMAIL FROM:<blocked@x>\r\n")
        harness.send("MAIL FROM:<a@x> SIZE=1000\r\n")
        harness.send("RCPT TO:<b@x>\r\n")            // bad sequence: no transaction
        harness.send("MAIL FROM:<a@x>\r\nRCPT TO:<bad@x>\r\nDATA\r\n")
        harness.send("RCPT TO:<good@x>\r\nRCPT TO:<more@x>\r\n")
        harness.send("DATA\r\n" + String(repeating: "x", count: 100) + "\r\n.\r\n")
        harness.deliveryReply = SMTPReply(554, "5.6.0", "refused by Graph")
        harness.send("MAIL FROM:<a@x>\r\nRCPT TO:<good@x>\r\nDATA\r\nhello\r\n.\r\n")
        harness.send("FROB\r\n")                     // unknown command: not a refusal
        #expect(harness.refusals == [550, 552, 550, 554, 452, 552, 554], "\(harness.replies.map(\.code))")
    }
}
