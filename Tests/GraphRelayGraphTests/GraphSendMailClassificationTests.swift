import Foundation
import NIOCore
import NIOHTTP1
import Testing
@testable import GraphRelayGraph

@Suite("sendMail outcome classification")
struct GraphSendMailClassificationTests {
    func classify(_ status: Int, code: String? = nil, message: String = "msg", headers: [(String, String)] = [],
                  bodyComplete: Bool = true) -> GraphSendMailOutcome {
        var body = ByteBuffer()
        if let code {
            body = ByteBuffer(string: #"{"error":{"code":"\#(code)","message":"\#(message)","innerError":{"request-id":"inner-rid","client-request-id":"c"}}}"#)
        }
        let response = HTTPClientResponse(status: HTTPResponseStatus(statusCode: status), headers: HTTPHeaders(headers),
                                          body: body, requestBodyComplete: bodyComplete)
        return GraphSendMailOutcome.classify(response: response, mailbox: "box@contoso.com", clientRequestID: "crid",
                                             attempts: 1, messageBytes: 10)
    }

    @Test func acceptedCarriesRequestID() {
        let outcome = classify(202, headers: [("request-id", "rid-1")])
        guard case .accepted(let receipt) = outcome else {
            Issue.record("expected acceptance")
            return
        }
        #expect(receipt.requestID == "rid-1")
        #expect(receipt.clientRequestID == "crid")
        #expect(outcome.smtpReply.code == 250)
        #expect(outcome.smtpReply.enhancedCode == "2.0.0")
    }

    @Test(arguments: [
        (400, "ErrorMimeContentInvalidBase64String", GraphSendFailure.Kind.invalidContent, 554, "5.6.0"),
        (400, "ErrorInvalidRecipients", .invalidRecipients, 550, "5.1.3"),
        (400, "ErrorMessageSizeExceeded", .tooLarge, 552, "5.3.4"),
        (413, "RequestEntityTooLarge", .tooLarge, 552, "5.3.4"),
        (403, "ErrorSendAsDenied", .denied, 550, "5.7.1"),
        (403, "ErrorAccessDenied", .denied, 550, "5.7.1"),
        (404, "ErrorInvalidUser", .unknownMailbox, 550, "5.1.1"),
        (404, "ResourceNotFound", .unknownMailbox, 550, "5.1.1"),
        (429, "ApplicationThrottled", .throttled, 451, "4.4.5"),
        (503, "ServiceUnavailable", .transient, 451, "4.4.5"),
        (504, "GatewayTimeout", .transient, 451, "4.4.1"),
        (500, "InternalServerError", .transient, 451, "4.4.0"),
        (401, "InvalidAuthenticationToken", .unauthorized, 451, "4.7.0"),
        (405, "Request_BadRequest", .rejected, 554, "5.0.0"),
        (409, "Conflict", .transient, 451, "4.4.0"),
    ])
    func mapsGraphErrors(status: Int, code: String, kind: GraphSendFailure.Kind, smtp: Int, enhanced: String) throws {
        let outcome = classify(status, code: code)
        let failure = try #require(outcome.failure)
        #expect(failure.kind == kind)
        #expect(failure.status == status)
        #expect(failure.errorCode == code)
        #expect(failure.requestID == "inner-rid")
        #expect(failure.clientRequestID == "crid")
        #expect(outcome.smtpReply.code == smtp)
        #expect(outcome.smtpReply.enhancedCode == enhanced)
        #expect(failure.isPermanent == (smtp >= 500))
        #expect(failure.ambiguous == (status >= 500))
    }

    @Test func deniedReplyQuotesGraph() throws {
        let outcome = classify(403, code: "ErrorSendAsDenied", message: "The user account which was used to submit this request does not have the right to send mail on behalf of the specified sending account., Cannot submit message.")
        #expect(outcome.smtpReply.text.hasPrefix("The user account which was used to submit this request"))
    }

    @Test func fourMegabyteMessageOn400IsTooLarge() throws {
        let failure = try #require(classify(400, code: "RequestBodyTooLarge", message: "The maximum request length supported is 4MB.").failure)
        #expect(failure.kind == .tooLarge)
    }

    @Test func throttlingKeepsRetryAfter() throws {
        let failure = try #require(classify(429, code: "ApplicationThrottled", headers: [("Retry-After", "2.5")]).failure)
        #expect(failure.retryAfter == .milliseconds(2500))
        #expect(!failure.ambiguous)
    }

    @Test func earlyServerErrorIsNotAmbiguous() throws {
        let failure = try #require(classify(503, code: "ServiceUnavailable", bodyComplete: false).failure)
        #expect(!failure.ambiguous)
    }

    @Test func errorWithoutJSONBody() throws {
        let failure = try #require(classify(502).failure)
        #expect(failure.kind == .transient)
        #expect(failure.message == "HTTP 502 Bad Gateway")
        #expect(failure.errorCode == nil)
    }

    @Test func transportErrors() throws {
        func classify(_ kind: HTTPClientError.Kind, sent: Bool) -> GraphSendMailOutcome {
            GraphSendMailOutcome.classify(transportError: HTTPClientError(kind, detail: "x", requestSent: sent),
                                          mailbox: "m@x", clientRequestID: "c")
        }
        let timeout = try #require(classify(.requestTimeout, sent: true).failure)
        #expect(timeout.kind == .transient)
        #expect(timeout.ambiguous)
        #expect(timeout.smtpReply.description.hasPrefix("451 4.4.1"))
        let refused = try #require(classify(.connectFailed, sent: false).failure)
        #expect(!refused.ambiguous)
        #expect(refused.smtpReply.description.hasPrefix("451 4.4.2"))
        let local = try #require(classify(.bodySourceFailed, sent: false).failure)
        #expect(local.kind == .localError)
        #expect(local.smtpReply.description.hasPrefix("451 4.3.0"))
    }

    @Test func smtpReplyTextIsOneSafeLine() {
        let reply = GraphSMTPReply(code: 550, enhancedCode: "5.7.1", text: "bad\r\nRCPT TO:<x>\tmore é " + String(repeating: "z", count: 400))
        #expect(!reply.text.contains("\r") && !reply.text.contains("\n"))
        #expect(reply.text.hasPrefix("bad RCPT TO:<x> more ? z"))
        #expect(reply.text.count == 300)
        #expect(reply.text.allSatisfy { $0.isASCII })
    }
}
