import GraphRelayMIME
import GraphRelayTLS
import NIOCore

/// One SMTP session, free of I/O: what to answer, when to ask the policy, when to store content.
///
/// The machine owns the ``SMTPInboundDecoder``, so switching between command lines, DATA content
/// and BDAT chunks happens synchronously with the command that causes it. The handler reports
/// events (bytes arrived, the policy decided, the sink stored a chunk, TLS is up, a timer fired,
/// shutdown) through one mutating method each; every method returns the next ``Action`` to perform.
/// After performing it the handler calls ``nextAction()`` until it gets ``Action/needInput`` (read
/// more bytes) or ``Action/wait`` (an asynchronous answer is pending, or the session is over).
///
/// While an asynchronous answer is pending no further input is decoded, so pipelined commands are
/// handled strictly in order and at most one policy call per session is in flight.
///
/// The events are here; what they lead to is in `SMTPSessionStateMachine+Commands.swift`,
/// `+Authentication`, `+Content` and `+Replies`. The state is internal only so that those files
/// can reach it: nothing else touches it, the handler drives the machine through the events.
/// (This file is a little over 400 lines: the state, the actions and one method per event, which
/// read best together.)
struct SMTPSessionStateMachine {
    struct Configuration {
        var hostname: String
        var banner: String
        var limits: SMTPLimits
        var listener: SMTPListenerConfiguration
        /// A STARTTLS listener got a TLS context for this connection.
        var startTLSAvailable: Bool
        /// An authenticator is configured.
        var authenticationAvailable: Bool
    }

    enum Action {
        /// Write this reply (the handler flushes before reading or waiting).
        case reply(SMTPReply)
        /// Write this reply, flush and close.
        case replyAndClose(SMTPReply)
        /// Close without a reply.
        case close(reason: String)
        /// A MAIL FROM, RCPT TO or message is refused with this reply, which follows as `.reply`
        /// or `.replyAndClose` (for the metrics; nothing to answer).
        case refused(SMTPReply)
        /// Ask ``SMTPPolicy/acceptConnection(_:)``; answer with ``connectionDecided(_:)``.
        case checkConnection(SMTPSessionInfo)
        /// Ask ``SMTPPolicy/acceptSender(_:parameters:session:)``; answer with ``senderDecided(_:)``.
        case checkSender(SMTPReversePath, SMTPMailParameters, SMTPSessionInfo)
        /// Ask ``SMTPPolicy/acceptRecipient(_:envelope:session:)``; answer with ``recipientDecided(_:)``.
        case checkRecipient(SMTPForwardPath, SMTPEnvelope, SMTPSessionInfo)
        /// Ask the authenticator (delay a negative answer); answer with ``credentialsVerified(_:)``.
        case verifyCredentials(username: String, password: String, SMTPSessionInfo)
        /// The 220 was queued just before: flush it, then insert the TLS handler. `discardedBytes`
        /// of pipelined plaintext were dropped (CVE-2011-0411). Answer with ``tlsHandshakeCompleted(_:)``.
        case startTLS(discardedBytes: Int)
        /// Create the message sink; answer with ``sinkOpened(success:)``.
        case openSink(SMTPEnvelope, SMTPSessionInfo)
        /// Append to the sink; answer with ``sinkAppended(success:)``.
        case appendToSink(ByteBuffer)
        /// Finish the sink and hand the message to ``SMTPPolicy/deliver(_:)``; answer with ``delivered(_:)``.
        case deliver(SMTPEnvelope, SMTPSessionInfo)
        /// Throw the sink's content away (no answer expected).
        case discardSink
        /// Everything buffered is processed: read more.
        case needInput
        /// Nothing to do until an asynchronous answer arrives (or the session is closed).
        case wait
    }

    /// What the session is waiting for, for the deadlines.
    enum InputPhase: Hashable {
        /// A command line (or AUTH response).
        case command
        /// DATA or BDAT content.
        case message
        /// An asynchronous answer of our own (policy, sink, TLS handshake): no input deadline.
        case suspended
        case closed
    }

    enum State {
        /// Connected; the connection policy has not answered, no greeting was sent.
        case admitting
        case commands
        case authResponse(AuthStep)
        case data
        /// Reading a BDAT chunk of `size` octets. With a rejection the chunk is read and dropped,
        /// then the rejection is the reply.
        case chunk(size: Int, last: Bool, rejection: SMTPReply?)
        case closed
    }

    enum AuthStep {
        case plain
        case loginUsername
        case loginPassword(String)
    }

    enum ContentKind {
        case data
        case chunk
    }

    enum Suspension {
        case connection
        case sender(SMTPReversePath, SMTPMailParameters)
        case recipient(SMTPForwardPath)
        case credentials(String)
        case tlsHandshake
        case sinkOpen(ContentKind)
        case sinkAppend
        case delivery
    }

    struct Transaction {
        var envelope: SMTPEnvelope
        var rejectedRecipients = 0
        /// RCPTs refused for exceeding the recipient limit.
        var excessRecipients = 0
        var usedChunking = false
        var sinkOpen = false
        /// Content octets received so far (after unstuffing, without the Received header).
        var octets = 0
        var oversize = false
        var storageFailed = false
    }

    /// RCPTs over the recipient limit answered with 452 before each further one counts as an error
    /// (Postfix's `smtpd_recipient_overshoot_limit`): a client pipelining a long recipient list
    /// must not be disconnected for it.
    static let recipientOvershootLimit = 1000

    static let loginUsernamePrompt = "VXNlcm5hbWU6"  // "Username:"
    static let loginPasswordPrompt = "UGFzc3dvcmQ6"  // "Password:"

    let configuration: Configuration
    var session: SMTPSessionInfo
    /// The TLS session, once a handshake completed.
    var tlsInfo: TLSConnectionInfo? { session.tls }
    var state: State = .admitting
    var suspension: Suspension?
    var transaction: Transaction?
    var decoder: SMTPInboundDecoder
    var pending = CircularBuffer<Action>(initialCapacity: 4)
    var errorCount = 0
    /// Decoder events handled so far (lines, content pieces), so the deadlines can tell progress.
    var inputEventCount = 0
    var junkCommandCount = 0
    /// Plaintext octets that arrived after the STARTTLS `220` was queued, before the TLS handler
    /// took over the connection (the `220` was still waiting for the peer to read): dropped.
    var plaintextDroppedDuringHandshake = 0
    var shutdownPending = false
    let makeIdentifier: () -> String
    let clock: () -> Int

    /// - Parameters:
    ///   - makeIdentifier: transaction ids (tests pass a fixed one).
    ///   - clock: seconds since 1970 for the `Received:` date.
    init(
        configuration: Configuration, session: SMTPSessionInfo,
        makeIdentifier: @escaping () -> String = { SMTPIdentifier.random() },
        clock: @escaping () -> Int
    ) {
        self.configuration = configuration
        self.session = session
        self.makeIdentifier = makeIdentifier
        self.clock = clock
        let limits = configuration.limits
        self.decoder = SMTPInboundDecoder(
            lineEndings: configuration.listener.lineEndings,
            maximumLineLength: max(limits.maximumCommandLineLength, limits.maximumAuthenticationLineLength),
            maximumTextLineLength: limits.maximumTextLineLength
        )
    }

    // MARK: Queries

    var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    var inputPhase: InputPhase {
        switch state {
        case .closed: return .closed
        case .admitting: return .suspended
        case .commands, .authResponse, .data, .chunk: break
        }
        if suspension != nil { return .suspended }
        switch state {
        case .data, .chunk: return .message
        default: return .command
        }
    }

    /// The session waits for the policy, the authenticator or the message sink: reading more
    /// input would only buffer it. (Not while admitting, so input before the greeting is noticed,
    /// and not during a TLS handshake, which needs the reads.)
    var awaitsApplication: Bool {
        switch suspension {
        case .sender, .recipient, .credentials, .sinkOpen, .sinkAppend, .delivery: true
        case .connection, .tlsHandshake, nil: false
        }
    }

    /// Part of a command line (or content) is buffered.
    var hasPartialInput: Bool { decoder.bufferedByteCount > 0 }

    // MARK: Events

    /// The connection is up. `rejection` is the connection limiter's reply when over a limit.
    mutating func start(rejection: SMTPReply?) -> Action {
        guard case .admitting = state, suspension == nil else { return nextAction() }
        if let rejection {
            close(with: rejection)
        } else {
            suspension = .connection
            pending.append(.checkConnection(session))
        }
        return nextAction()
    }

    mutating func connectionDecided(_ decision: SMTPDecision) -> Action {
        guard case .connection? = suspension, case .admitting = state else { return nextAction() }
        suspension = nil
        switch decision {
        case .accept:
            state = .commands
            pending.append(.reply(.greeting(hostname: configuration.hostname, banner: configuration.banner)))
        case .reject(let reply):
            close(with: Self.normalizedRejection(reply))
        }
        return nextAction()
    }

    mutating func bytesReceived(_ bytes: ByteBuffer) -> Action {
        switch state {
        case .closed:
            return .wait
        case .admitting:
            // A client talking before the greeting is not a patient SMTP client (RFC 5321 §3.1).
            state = .closed
            suspension = nil
            if bytes.readableBytesView.first == 0x16 {
                return .close(reason: "TLS handshake before the greeting on a plaintext connection")
            }
            return .replyAndClose(.inputBeforeGreeting)
        case .commands, .authResponse, .data, .chunk:
            if case .tlsHandshake? = suspension, session.tls == nil {
                // From the moment STARTTLS is accepted until the handshake completes, every
                // plaintext byte is dropped (CVE-2011-0411), however late the TLS handler joins
                // the pipeline: the 220 may still wait for the peer to read when more arrives.
                plaintextDroppedDuringHandshake += bytes.readableBytes
                return nextAction()
            }
            decoder.feed(bytes)
            return nextAction()
        }
    }

    mutating func senderDecided(_ decision: SMTPDecision) -> Action {
        guard case .sender(let path, let parameters)? = suspension else { return nextAction() }
        suspension = nil
        switch decision {
        case .accept:
            transaction = Transaction(envelope: SMTPEnvelope(id: makeIdentifier(), sender: path, parameters: parameters))
            reply(.senderOk)
        case .reject(let rejection):
            policyRejected(rejection)
        }
        return nextAction()
    }

    mutating func recipientDecided(_ decision: SMTPDecision) -> Action {
        guard case .recipient(let path)? = suspension else { return nextAction() }
        suspension = nil
        switch decision {
        case .accept:
            transaction?.envelope.recipients.append(path)
            reply(.recipientOk)
        case .reject(let rejection):
            transaction?.rejectedRecipients += 1
            policyRejected(rejection)
        }
        return nextAction()
    }

    mutating func credentialsVerified(_ result: SMTPAuthenticationResult) -> Action {
        guard case .credentials(let username)? = suspension else { return nextAction() }
        suspension = nil
        switch result {
        case .succeeded:
            session.authenticatedUser = username
            reply(.authenticationSucceeded)
        case .failed:
            reply(.authenticationFailed)
        case .temporarilyUnavailable:
            reply(.authenticationTemporarilyUnavailable)
        }
        return nextAction()
    }

    /// The TLS handshake finished (after STARTTLS, or at the start of an implicit-TLS connection).
    mutating func tlsHandshakeCompleted(_ info: TLSConnectionInfo) -> Action {
        session.tls = info
        if case .tlsHandshake? = suspension {
            suspension = nil
        }
        return nextAction()
    }

    mutating func sinkOpened(success: Bool) -> Action {
        guard case .sinkOpen(let kind)? = suspension else { return nextAction() }
        suspension = nil
        guard var current = transaction else { return nextAction() }
        guard success else {
            switch kind {
            case .data:
                transaction = nil
                reply(.storageFailed)
            case .chunk:
                // The chunk is still read; the 451 comes at its end.
                current.storageFailed = true
                transaction = current
            }
            return nextAction()
        }
        current.sinkOpen = true
        transaction = current
        if case .data = kind {
            pending.append(.reply(.startMailInput))
            decoder.beginMessage()
            decoder.expectData()
            state = .data
        }
        let header = SMTPReceivedHeader.make(hostname: configuration.hostname, session: session, envelope: current.envelope, time: clock())
        var bytes = ByteBuffer()
        bytes.writeString(header)
        suspension = .sinkAppend
        pending.append(.appendToSink(bytes))
        return nextAction()
    }

    mutating func sinkAppended(success: Bool) -> Action {
        guard case .sinkAppend? = suspension else { return nextAction() }
        suspension = nil
        if !success, var current = transaction {
            current.storageFailed = true
            if current.sinkOpen {
                current.sinkOpen = false
                pending.append(.discardSink)
            }
            transaction = current
        }
        return nextAction()
    }

    /// The policy's final answer to a delivered message.
    mutating func delivered(_ reply: SMTPReply) -> Action {
        guard case .delivery? = suspension else { return nextAction() }
        suspension = nil
        // The sink now belongs to the delivered message.
        transaction = nil
        let final = Self.normalizedDeliveryReply(reply)
        if final.isPositive {
            // As Postfix: junk commands are counted per delivered message.
            junkCommandCount = 0
        }
        if !final.isPositive {
            pending.append(.refused(final))
        }
        if final.code == 421 {
            close(with: final)
        } else {
            self.reply(final)
        }
        if shutdownPending {
            close(with: .shuttingDown(hostname: configuration.hostname))
        }
        return nextAction()
    }

    /// The input deadline passed: the client was too slow (`.input`), or the message's transfer
    /// or the whole session reached its cap.
    mutating func timedOut(_ expiry: SMTPInputDeadline.Expiry = .input) -> Action {
        switch expiry {
        case .input: close(with: .timeout(hostname: configuration.hostname))
        case .dataDuration: close(with: .transferTooLong(hostname: configuration.hostname))
        case .sessionDuration: close(with: .sessionTooLong(hostname: configuration.hostname))
        }
        return nextAction()
    }

    /// The server is shutting down: `421 4.3.2` now, or after the reply to a delivery in progress.
    /// The server is draining: a session with a transaction under way (after MAIL FROM, or
    /// waiting for its delivery answer) may finish it and is then told `421 4.3.2`; any other
    /// is told at once. `force` (the drain timeout passed): told at once, whatever it was doing.
    mutating func shutdownRequested(force: Bool = false) -> Action {
        let busy: Bool
        if case .delivery? = suspension { busy = true } else { busy = transaction != nil }
        if busy, !force {
            shutdownPending = true
        } else {
            close(with: .shuttingDown(hostname: configuration.hostname))
        }
        return nextAction()
    }

    /// The channel closed; nothing more will be sent.
    mutating func connectionClosed() {
        state = .closed
        suspension = nil
        pending.removeAll()
    }

    /// The next thing to do. See the type's documentation.
    mutating func nextAction() -> Action {
        while true {
            if let action = pending.popFirst() { return action }
            if isClosed || suspension != nil { return .wait }
            if case .admitting = state { return .wait }
            guard let event = decoder.next() else { return .needInput }
            inputEventCount &+= 1
            handle(event)
        }
    }
}
