/// The life of one TLS connection, free of I/O: idle → handshaking → active → closing → closed.
///
/// ``TLSHandler`` reports each event (channel became active, bytes arrived, OpenSSL finished a step,
/// the application wrote or asked to close, the timer fired, the channel went away) and performs
/// the returned action. The OpenSSL calls stay in the handler; what to do next is decided here.
struct TLSHandlerStateMachine {
    private enum State {
        /// Added to the pipeline; nothing has happened yet.
        case idle
        /// ClientHello sent or expected; application writes are buffered.
        case handshaking
        /// Application data flows both ways.
        case active
        /// close_notify is sent; the channel is closing.
        case closing
        /// The connection is over (closed, failed or inactive).
        case closed
    }

    private var state: State = .idle
    /// The application flushed before the handshake completed.
    private var flushPending = false
    let role: TLSRole

    init(role: TLSRole) {
        self.role = role
    }

    // MARK: Starting

    enum StartAction: Equatable {
        /// Start the handshake timer; in client mode also produce the ClientHello.
        case startHandshake(sendClientHello: Bool)
        case none
    }

    /// The channel is active (or the handler was added to an active channel, e.g. for STARTTLS).
    mutating func channelActive() -> StartAction {
        guard case .idle = state else { return .none }
        state = .handshaking
        return .startHandshake(sendClientHello: role == .client)
    }

    // MARK: Inbound

    enum ReceiveAction: Equatable {
        /// Feed the bytes to OpenSSL and continue the handshake.
        case continueHandshake
        /// Feed the bytes to OpenSSL and read application data.
        case readApplicationData
        /// Drop the bytes (the connection is closing or closed).
        case discard
    }

    mutating func bytesReceived() -> ReceiveAction {
        switch state {
        case .idle:
            // Bytes before channelActive cannot happen on a socket; treat as the start.
            state = .handshaking
            return .continueHandshake
        case .handshaking:
            return .continueHandshake
        case .active:
            return .readApplicationData
        case .closing, .closed:
            return .discard
        }
    }

    enum HandshakeOutcome {
        case complete
        case wantMore
        case failed(TLSError)
    }

    enum HandshakeAction {
        /// Cancel the timer, announce the handshake, send buffered writes (and flush them if the
        /// application flushed meanwhile), then read any application data that arrived with the
        /// last handshake flight.
        case completed(flushBufferedWrites: Bool)
        /// Send what OpenSSL produced and wait for more bytes.
        case waitForMore
        /// Send any alert OpenSSL produced, fail buffered writes, report the error and close.
        case fail(TLSError)
        case none
    }

    mutating func handshakeStepped(_ outcome: HandshakeOutcome) -> HandshakeAction {
        guard case .handshaking = state else { return .none }
        switch outcome {
        case .complete:
            state = .active
            defer { flushPending = false }
            return .completed(flushBufferedWrites: flushPending)
        case .wantMore:
            return .waitForMore
        case .failed(let error):
            state = .closed
            return .fail(error)
        }
    }

    enum ReadAction {
        /// More ciphertext is needed.
        case waitForMore
        /// The peer sent close_notify: answer with ours and close.
        case answerCloseNotify
        /// A record failed to decrypt or an alert arrived: report and close.
        case fail(TLSError)
        case none
    }

    mutating func readStopped(_ end: OpenSSLConnection.ReadEnd, error: @autoclosure () -> TLSError) -> ReadAction {
        guard case .active = state else { return .none }
        switch end {
        case .wantMore:
            return .waitForMore
        case .closeNotify:
            state = .closing
            return .answerCloseNotify
        case .failed:
            state = .closed
            return .fail(error())
        }
    }

    // MARK: Outbound

    enum WriteAction: Equatable {
        /// Hold the write until the handshake completes.
        case buffer
        /// Encrypt and pass down now.
        case encrypt
        /// Fail the write's promise: the connection is closing or closed.
        case fail
    }

    func writeRequested() -> WriteAction {
        switch state {
        case .idle, .handshaking: .buffer
        case .active: .encrypt
        case .closing, .closed: .fail
        }
    }

    enum FlushAction: Equatable {
        /// Flush the channel now.
        case flush
        /// Remember the flush; it happens once the buffered writes go out after the handshake.
        case deferUntilHandshake
    }

    mutating func flushRequested() -> FlushAction {
        switch state {
        case .idle, .handshaking:
            flushPending = true
            return .deferUntilHandshake
        case .active, .closing, .closed:
            return .flush
        }
    }

    enum CloseAction: Equatable {
        /// Send close_notify, then close the channel.
        case sendCloseNotifyThenClose
        /// Close the channel at once (no TLS session to end), failing buffered writes.
        case closeNow
        /// A close is already under way: just forward this one.
        case forward
    }

    mutating func closeRequested() -> CloseAction {
        switch state {
        case .active:
            state = .closing
            return .sendCloseNotifyThenClose
        case .idle, .handshaking:
            state = .closed
            return .closeNow
        case .closing, .closed:
            return .forward
        }
    }

    // MARK: Timer and teardown

    enum TimeoutAction: Equatable {
        case fail
        case none
    }

    mutating func handshakeTimerFired() -> TimeoutAction {
        guard case .handshaking = state else { return .none }
        state = .closed
        return .fail
    }

    enum InactiveAction: Equatable {
        /// The peer went away mid-handshake: report it, fail buffered writes.
        case failClosedDuringHandshake
        /// TCP ended without close_notify after the handshake (a ragged EOF): end cleanly.
        case raggedEOF
        /// The expected end of a close.
        case closed
    }

    mutating func channelInactive() -> InactiveAction {
        let previous = state
        state = .closed
        switch previous {
        case .handshaking: return .failClosedDuringHandshake
        case .active: return .raggedEOF
        case .idle, .closing, .closed: return .closed
        }
    }

    var isActive: Bool {
        if case .active = state { return true }
        return false
    }
}
