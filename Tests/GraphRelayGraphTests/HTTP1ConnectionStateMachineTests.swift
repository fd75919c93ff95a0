import NIOCore
import NIOHTTP1
import Testing
@testable import GraphRelayGraph

@Suite("HTTP1ConnectionStateMachine")
struct HTTP1ConnectionStateMachineTests {
    let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v1.0/users/a@b/sendMail")

    func response(_ status: HTTPResponseStatus, headers: HTTPHeaders = [:]) -> HTTPResponseHead {
        HTTPResponseHead(version: .http1_1, status: status, headers: headers)
    }

    @Test func requestWithBodyThenKeepAliveResponse() {
        var machine = HTTP1ConnectionStateMachine(maxResponseBodySize: 1024)
        #expect(machine.startRequest(head: head, bodyLength: 8) == .sendRequestHead(head, sendEnd: false))
        #expect(machine.bodyPartOffered(count: 5) == .writeBodyPart)
        #expect(machine.bodyPartOffered(count: 3) == .writeLastBodyPart)
        #expect(machine.bodyEndOffered() == .succeedWrite)
        #expect(machine.responseHeadReceived(response(.accepted)) == .none)
        #expect(machine.responseBodyReceived(ByteBuffer(string: "ok")) == .none)
        let expected = HTTPClientResponse(status: .accepted, body: ByteBuffer(string: "ok"), requestBodyComplete: true)
        #expect(machine.responseEndReceived() == .succeedRequest(expected, .keepAlive))
        #expect(machine.isIdle)
        // The connection can carry the next request.
        #expect(machine.startRequest(head: head, bodyLength: nil) == .sendRequestHead(head, sendEnd: true))
    }

    @Test func connectionCloseResponseClosesAfterwards() {
        var machine = HTTP1ConnectionStateMachine(maxResponseBodySize: 1024)
        _ = machine.startRequest(head: head, bodyLength: nil)
        _ = machine.responseHeadReceived(response(.ok, headers: ["Connection": "close"]))
        guard case .succeedRequest(_, .close) = machine.responseEndReceived() else {
            Issue.record("expected close after a Connection: close response")
            return
        }
        #expect(machine.startRequest(head: head, bodyLength: nil)
            == .failRequest(HTTPClientError(.connectionClosed, detail: "the pooled connection closed before the request started"), .none))
    }

    @Test func bodyLongerThanAnnouncedFailsAndCloses() {
        var machine = HTTP1ConnectionStateMachine(maxResponseBodySize: 1024)
        _ = machine.startRequest(head: head, bodyLength: 4)
        #expect(machine.bodyPartOffered(count: 3) == .writeBodyPart)
        guard case .failRequest(let error, .close) = machine.bodyPartOffered(count: 2) else {
            Issue.record("expected failure")
            return
        }
        #expect(error.kind == .bodyLengthMismatch)
        #expect(!error.requestSent)
    }

    @Test func bodyShorterThanAnnouncedFailsAtEnd() {
        var machine = HTTP1ConnectionStateMachine(maxResponseBodySize: 1024)
        _ = machine.startRequest(head: head, bodyLength: 4)
        _ = machine.bodyPartOffered(count: 3)
        guard case .failRequest(let error, .close) = machine.bodyEndOffered() else {
            Issue.record("expected failure")
            return
        }
        #expect(error.kind == .bodyLengthMismatch)
        #expect(error.detail.contains("1 bytes short"))
    }

    @Test func responseRightAfterLastPartKeepsConnectionAndAcceptsLateEnd() {
        var machine = HTTP1ConnectionStateMachine(maxResponseBodySize: 1024)
        _ = machine.startRequest(head: head, bodyLength: 4)
        #expect(machine.bodyPartOffered(count: 4) == .writeLastBodyPart)
        _ = machine.responseHeadReceived(response(.accepted))
        guard case .succeedRequest(let answer, .keepAlive) = machine.responseEndReceived() else {
            Issue.record("expected a reusable connection")
            return
        }
        #expect(answer.requestBodyComplete)
        // The producer's end arrives after the response: harmless.
        #expect(machine.bodyEndOffered() == .succeedWrite)
        #expect(machine.isIdle)
    }

    @Test func earlyResponseCompletesRequestAndRefusesFurtherBody() {
        var machine = HTTP1ConnectionStateMachine(maxResponseBodySize: 1024)
        _ = machine.startRequest(head: head, bodyLength: 100)
        _ = machine.bodyPartOffered(count: 10)
        _ = machine.responseHeadReceived(response(.payloadTooLarge))
        guard case .succeedRequest(let answer, .close) = machine.responseEndReceived() else {
            Issue.record("expected the early answer to complete the request")
            return
        }
        #expect(answer.status == .payloadTooLarge)
        #expect(!answer.requestBodyComplete)
        guard case .failWrite = machine.bodyPartOffered(count: 10) else {
            Issue.record("expected further body parts to be refused")
            return
        }
    }

    @Test func inactiveBeforeBodySentIsNotAmbiguous() {
        var machine = HTTP1ConnectionStateMachine(maxResponseBodySize: 1024)
        _ = machine.startRequest(head: head, bodyLength: 100)
        _ = machine.bodyPartOffered(count: 50)
        guard case .failRequest(let error, .none) = machine.channelInactive() else {
            Issue.record("expected failure")
            return
        }
        #expect(error.kind == .connectionClosed)
        #expect(!error.requestSent)
    }

    @Test func inactiveAfterBodySentIsAmbiguous() {
        var machine = HTTP1ConnectionStateMachine(maxResponseBodySize: 1024)
        _ = machine.startRequest(head: head, bodyLength: 1)
        #expect(machine.bodyPartOffered(count: 1) == .writeLastBodyPart)
        guard case .failRequest(let error, .none) = machine.channelInactive() else {
            Issue.record("expected failure")
            return
        }
        #expect(error.requestSent)
        #expect(error.description.contains("after the request was sent"))
    }

    @Test func timeoutReportsWhetherRequestWasSent() {
        var machine = HTTP1ConnectionStateMachine(maxResponseBodySize: 1024)
        _ = machine.startRequest(head: head, bodyLength: nil)
        guard case .failRequest(let error, .close) = machine.requestTimeoutFired(after: .seconds(3)) else {
            Issue.record("expected failure")
            return
        }
        #expect(error.kind == .requestTimeout)
        #expect(error.requestSent)
        #expect(error.detail == "no complete response within 3 s")
        // A stale timer after the close does nothing.
        #expect(machine.requestTimeoutFired(after: .seconds(3)) == .none)
    }

    @Test func oversizedResponseFails() {
        var machine = HTTP1ConnectionStateMachine(maxResponseBodySize: 4)
        _ = machine.startRequest(head: head, bodyLength: nil)
        _ = machine.responseHeadReceived(response(.ok))
        #expect(machine.responseBodyReceived(ByteBuffer(string: "abc")) == .none)
        guard case .failRequest(let error, .close) = machine.responseBodyReceived(ByteBuffer(string: "de")) else {
            Issue.record("expected failure")
            return
        }
        #expect(error.kind == .responseTooLarge)
    }

    @Test func informationalResponseIsSkipped() {
        var machine = HTTP1ConnectionStateMachine(maxResponseBodySize: 16)
        _ = machine.startRequest(head: head, bodyLength: nil)
        #expect(machine.responseHeadReceived(response(.continue)) == .none)
        #expect(machine.responseHeadReceived(response(.accepted)) == .none)
        guard case .succeedRequest(let answer, .keepAlive) = machine.responseEndReceived() else {
            Issue.record("expected success")
            return
        }
        #expect(answer.status == .accepted)
    }

    @Test func unsolicitedResponseOnIdleConnectionCloses() {
        var machine = HTTP1ConnectionStateMachine(maxResponseBodySize: 16)
        #expect(machine.responseHeadReceived(response(.ok)) == .close)
    }

    @Test func idleTimerClosesOnlyIdleConnections() {
        var machine = HTTP1ConnectionStateMachine(maxResponseBodySize: 16)
        _ = machine.startRequest(head: head, bodyLength: nil)
        #expect(machine.idleTimeoutFired() == .none)
        _ = machine.responseHeadReceived(response(.ok))
        _ = machine.responseEndReceived()
        #expect(machine.idleTimeoutFired() == .close)
    }

    @Test func cancellationFailsRequestAndCloses() {
        var machine = HTTP1ConnectionStateMachine(maxResponseBodySize: 16)
        _ = machine.startRequest(head: head, bodyLength: 10)
        guard case .failRequest(let error, .close) = machine.requestCancelled(HTTPClientError(.cancelled)) else {
            Issue.record("expected failure")
            return
        }
        #expect(error.kind == .cancelled)
        #expect(machine.requestCancelled(HTTPClientError(.cancelled)) == .none)
    }

    @Test func errorWhileIdleCloses() {
        var machine = HTTP1ConnectionStateMachine(maxResponseBodySize: 16)
        #expect(machine.errorCaught(HTTPClientError(.tlsFailed)) == .close)
        #expect(machine.errorCaught(HTTPClientError(.tlsFailed)) == .none)
    }
}
