@testable import GraphRelayTLS
import Testing

@Suite("TLS handler state machine")
struct TLSHandlerStateMachineTests {
    @Test("client: active starts the handshake and sends the ClientHello; server waits")
    func start() {
        var client = TLSHandlerStateMachine(role: .client)
        #expect(client.channelActive() == .startHandshake(sendClientHello: true))
        #expect(client.channelActive() == .none)
        var server = TLSHandlerStateMachine(role: .server)
        #expect(server.channelActive() == .startHandshake(sendClientHello: false))
    }

    @Test("writes are buffered until the handshake completes, then encrypted")
    func writesBuffered() {
        var machine = TLSHandlerStateMachine(role: .server)
        #expect(machine.writeRequested() == .buffer)
        _ = machine.channelActive()
        #expect(machine.bytesReceived() == .continueHandshake)
        #expect(machine.writeRequested() == .buffer)
        guard case .waitForMore = machine.handshakeStepped(.wantMore) else { Issue.record("expected waitForMore"); return }
        #expect(machine.flushRequested() == .deferUntilHandshake)
        guard case .completed(let flush) = machine.handshakeStepped(.complete) else { Issue.record("expected completed"); return }
        #expect(flush)  // the application flushed during the handshake
        #expect(machine.flushRequested() == .flush)
        #expect(machine.writeRequested() == .encrypt)
        #expect(machine.bytesReceived() == .readApplicationData)
    }

    @Test("a failed handshake closes; later bytes are discarded and writes fail")
    func handshakeFailure() {
        var machine = TLSHandlerStateMachine(role: .server)
        _ = machine.channelActive()
        guard case .fail(let error) = machine.handshakeStepped(.failed(TLSError(.handshakeFailed))) else {
            Issue.record("expected fail"); return
        }
        #expect(error.kind == .handshakeFailed)
        #expect(machine.bytesReceived() == .discard)
        #expect(machine.writeRequested() == .fail)
        #expect(machine.handshakeTimerFired() == .none)
        #expect(machine.closeRequested() == .forward)
    }

    @Test("no flush is owed when the application did not flush during the handshake")
    func noFlushOwed() {
        var machine = TLSHandlerStateMachine(role: .client)
        _ = machine.channelActive()
        guard case .completed(let flush) = machine.handshakeStepped(.complete) else { Issue.record("expected completed"); return }
        #expect(!flush)
    }

    @Test("close: close_notify when active, immediate during the handshake, forwarded afterwards")
    func close() {
        var active = TLSHandlerStateMachine(role: .client)
        _ = active.channelActive()
        _ = active.handshakeStepped(.complete)
        #expect(active.closeRequested() == .sendCloseNotifyThenClose)
        #expect(active.closeRequested() == .forward)
        #expect(active.writeRequested() == .fail)
        #expect(active.channelInactive() == .closed)

        var handshaking = TLSHandlerStateMachine(role: .client)
        _ = handshaking.channelActive()
        #expect(handshaking.closeRequested() == .closeNow)
    }

    @Test("peer close_notify is answered; ragged EOF and EOF mid-handshake are told apart")
    func peerClose() {
        var machine = TLSHandlerStateMachine(role: .server)
        _ = machine.channelActive()
        _ = machine.handshakeStepped(.complete)
        guard case .answerCloseNotify = machine.readStopped(.closeNotify, error: TLSError(.protocolError)) else {
            Issue.record("expected answerCloseNotify"); return
        }
        #expect(machine.bytesReceived() == .discard)

        var ragged = TLSHandlerStateMachine(role: .server)
        _ = ragged.channelActive()
        _ = ragged.handshakeStepped(.complete)
        #expect(ragged.channelInactive() == .raggedEOF)

        var early = TLSHandlerStateMachine(role: .server)
        _ = early.channelActive()
        #expect(early.channelInactive() == .failClosedDuringHandshake)
    }

    @Test("the handshake timer only fails a handshake in progress")
    func timer() {
        var machine = TLSHandlerStateMachine(role: .server)
        #expect(machine.handshakeTimerFired() == .none)
        _ = machine.channelActive()
        #expect(machine.handshakeTimerFired() == .fail)
        #expect(machine.writeRequested() == .fail)
    }
}
