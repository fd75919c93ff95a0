import NIOCore
import Testing
@testable import GraphRelayGraph

@Suite("HTTPConnectProxyStateMachine")
struct HTTPConnectProxyStateMachineTests {
    let target = HTTPEndpoint(scheme: .https, host: "graph.microsoft.com")

    @Test func sendsConnectWithAuthorization() {
        var machine = HTTPConnectProxyStateMachine(target: target, proxyDescription: "proxy:3128", authorization: "Basic dTpw")
        guard case .sendConnect(let request) = machine.channelActive() else {
            Issue.record("expected CONNECT")
            return
        }
        #expect(String(buffer: request) == "CONNECT graph.microsoft.com:443 HTTP/1.1\r\nHost: graph.microsoft.com:443\r\nUser-Agent: graph-relay\r\nProxy-Authorization: Basic dTpw\r\n\r\n")
    }

    @Test func establishedAfterResponseSplitAcrossReads() {
        var machine = HTTPConnectProxyStateMachine(target: target, proxyDescription: "proxy:3128", authorization: nil)
        _ = machine.channelActive()
        #expect(machine.bytesReceived(ByteBuffer(string: "HTTP/1.1 200 Connection est")) == .waitForMore)
        #expect(machine.bytesReceived(ByteBuffer(string: "ablished\r\nVia: x\r\n\r")) == .waitForMore)
        #expect(machine.bytesReceived(ByteBuffer(string: "\n")) == .established)
    }

    @Test func refusalNamesStatus() {
        var machine = HTTPConnectProxyStateMachine(target: target, proxyDescription: "proxy:3128", authorization: nil)
        _ = machine.channelActive()
        guard case .fail(let error) = machine.bytesReceived(ByteBuffer(string: "HTTP/1.1 403 Forbidden\r\n\r\n")) else {
            Issue.record("expected failure")
            return
        }
        #expect(error.kind == .proxyFailed)
        #expect(error.detail == "proxy proxy:3128: the proxy refused CONNECT graph.microsoft.com:443: 403 Forbidden")
    }

    @Test func authenticationRequiredIsExplained() {
        var machine = HTTPConnectProxyStateMachine(target: target, proxyDescription: "p:1", authorization: nil)
        _ = machine.channelActive()
        guard case .fail(let error) = machine.bytesReceived(ByteBuffer(string: "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n")) else {
            Issue.record("expected failure")
            return
        }
        #expect(error.detail.contains("requires authentication (407"))
    }

    @Test func garbageAndOverlongHeadsFail() {
        var machine = HTTPConnectProxyStateMachine(target: target, proxyDescription: "p:1", authorization: nil)
        _ = machine.channelActive()
        guard case .fail(let error) = machine.bytesReceived(ByteBuffer(string: "SSH-2.0-OpenSSH\r\n\r\n")) else {
            Issue.record("expected failure")
            return
        }
        #expect(error.detail.contains("not an HTTP response"))

        var long = HTTPConnectProxyStateMachine(target: target, proxyDescription: "p:1", authorization: nil)
        _ = long.channelActive()
        guard case .fail(let tooLong) = long.bytesReceived(ByteBuffer(string: "HTTP/1.1 200 OK\r\nX: " + String(repeating: "a", count: 20_000))) else {
            Issue.record("expected failure")
            return
        }
        #expect(tooLong.detail.contains("longer than"))
    }

    @Test func bytesAfterResponseHeadAreRefused() {
        var machine = HTTPConnectProxyStateMachine(target: target, proxyDescription: "p:1", authorization: nil)
        _ = machine.channelActive()
        guard case .fail(let error) = machine.bytesReceived(ByteBuffer(string: "HTTP/1.1 200 OK\r\n\r\nxyz")) else {
            Issue.record("expected failure")
            return
        }
        #expect(error.detail.contains("3 unexpected bytes"))
    }

    @Test func closeBeforeAnswerFails() {
        var machine = HTTPConnectProxyStateMachine(target: target, proxyDescription: "p:1", authorization: nil)
        _ = machine.channelActive()
        guard case .fail(let error) = machine.channelInactive() else {
            Issue.record("expected failure")
            return
        }
        #expect(error.detail.contains("closed the connection before answering"))
    }
}
