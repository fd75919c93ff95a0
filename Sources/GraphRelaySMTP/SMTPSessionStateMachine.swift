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

    private enum State {
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

    private enum AuthStep {
        case plain
        case loginUsername
        case loginPassword(String)
    }

    private enum ContentKind {
        case data
        case chunk
    }

    private enum Suspension {
        case connection
        case sender(SMTPReversePath, SMTPMailParameters)
        case recipient(SMTPForwardPath)
        case credentials(String)
        case tlsHandshake
        case sinkOpen(ContentKind)
        case sinkAppend
        case delivery
    }

    private struct Transaction {
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
    private(set) var session: SMTPSessionInfo
    private var state: State = .admitting
    private var suspension: Suspension?
    private var transaction: Transaction?
    private var decoder: SMTPInboundDecoder
    private var pending = CircularBuffer<Action>(initialCapacity: 4)
    private(set) var errorCount = 0
    /// Decoder events handled so far (lines, content pieces), so the deadlines can tell progress.
    private(set) var inputEventCount = 0
    private var junkCommandCount = 0
    /// Plaintext octets that arrived after the STARTTLS `220` was queued, before the TLS handler
    /// took over the connection (the `220` was still waiting for the peer to read): dropped.
    private(set) var plaintextDroppedDuringHandshake = 0
    private var shutdownPending = false
    private let makeIdentifier: () -> String
    private let clock: () -> Int

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
    mutating func shutdownRequested() -> Action {
        if case .delivery? = suspension {
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

    // MARK: Decoder events

    private mutating func handle(_ event: SMTPInboundDecoder.Event) {
        switch event {
        case .line(let line, let defects):
            if case .authResponse(let step) = state {
                state = .commands
                authenticationResponse(line, defects, step)
            } else {
                commandLine(line, defects)
            }
        case .lineTooLong:
            if case .authResponse = state {
                state = .commands
                reply(.authenticationLineTooLong)
            } else {
                reply(.lineTooLong)
            }
        case .tlsRecord:
            discardOpenSink()
            state = .closed
            suspension = nil
            pending.append(.close(reason: "TLS handshake record on a plaintext connection"))
        case .messageData(let bytes), .chunkData(let bytes):
            content(bytes)
        case .messageEnd(let defects):
            state = .commands
            finishMessage(defects)
        case .chunkEnd(let defects):
            chunkEnded(defects)
        }
    }

    private mutating func commandLine(_ line: [UInt8], _ defects: SMTPInboundDecoder.LineDefects) {
        if defects.contains(.nul) {
            reply(.nulInCommand)
            return
        }
        if defects.contains(.bareCR) || (defects.contains(.bareLF) && configuration.listener.lineEndings == .strict) {
            reply(.bareLineEndingInCommand)
            return
        }
        if line.count + 2 > configuration.limits.maximumCommandLineLength && !Self.isAuthCommand(line) {
            reply(.lineTooLong)
            return
        }
        switch SMTPCommandParser.parse(line) {
        case .command(let command):
            execute(command)
            if command.isJunk {
                junkCommandCount += 1
                if junkCommandCount > configuration.limits.maximumJunkCommands {
                    countError()
                }
            }
        case .failure(let failure):
            reply(failure)
        case .malformedChunk(let failure):
            // The chunk's length is unknown, so its octets cannot be told from commands.
            close(with: failure)
        }
    }

    private static func isAuthCommand(_ line: [UInt8]) -> Bool {
        line.count > 5 && line.prefix(5).map(SMTPCommandParser.asciiUppercased) == Array("AUTH ".utf8)
    }

    // MARK: Commands

    private mutating func execute(_ command: SMTPCommand) {
        let limits = configuration.limits
        switch command {
        case .ehlo(let name):
            resetTransaction()
            session.heloName = name
            session.usedEHLO = true
            reply(.ehlo(hostname: configuration.hostname, extensions: extensions()))
        case .helo(let name):
            resetTransaction()
            session.heloName = name
            session.usedEHLO = false
            reply(.helo(hostname: configuration.hostname))
        case .mail(let path, let parameters):
            guard session.heloName != nil else { return reply(.badSequence("send HELO/EHLO first")) }
            guard session.tls != nil || !configuration.listener.requireTLS else { return reply(.tlsRequired) }
            guard transaction == nil else { return reply(.badSequence("nested MAIL command")) }
            if let size = parameters.size, size > limits.maximumMessageSize { return reply(.messageTooBig) }
            suspension = .sender(path, parameters)
            pending.append(.checkSender(path, parameters, session))
        case .rcpt(let path):
            guard let current = transaction else { return reply(.badSequence("need MAIL command")) }
            guard !current.usedChunking else { return reply(.badSequence("RCPT after BDAT")) }
            guard current.envelope.recipients.count < limits.maximumRecipients else {
                transaction?.excessRecipients += 1
                pending.append(.reply(.tooManyRecipients))
                if current.excessRecipients + 1 > Self.recipientOvershootLimit { countError() }
                return
            }
            if let mailbox = path.mailbox, !mailbox.isASCII, !current.envelope.parameters.smtpUTF8 {
                return reply(.smtpUTF8Required)
            }
            suspension = .recipient(path)
            pending.append(.checkRecipient(path, current.envelope, session))
        case .data:
            guard let current = transaction else { return reply(.badSequence("need MAIL command")) }
            guard !current.usedChunking else { return reply(.badSequence("DATA after BDAT")) }
            guard !current.envelope.recipients.isEmpty else {
                return reply(current.rejectedRecipients > 0 ? .noValidRecipients : .badSequence("need RCPT command"))
            }
            suspension = .sinkOpen(.data)
            pending.append(.openSink(current.envelope, session))
        case .bdat(let size, let last):
            // Whatever the answer, exactly `size` octets follow and are content, not commands.
            decoder.expectChunk(size: size, last: last)
            chunkCommand(size: size, last: last)
        case .rset:
            resetTransaction()
            reply(.ok)
        case .noop:
            reply(.ok)
        case .quit:
            close(with: .bye)
        case .vrfy:
            reply(.cannotVerify)
        case .expn:
            reply(.commandNotImplemented)
        case .help:
            reply(.help)
        case .startTLS:
            startTLS()
        case .auth(let mechanism, let initialResponse):
            authenticate(mechanism: mechanism, initialResponse: initialResponse)
        }
    }

    private func extensions() -> [String] {
        var list = ["PIPELINING", "SIZE \(configuration.limits.maximumMessageSize)"]
        if configuration.listener.tls == .starttls, configuration.startTLSAvailable, session.tls == nil {
            list.append("STARTTLS")
        }
        if configuration.authenticationAvailable, authenticationPermitted {
            // "AUTH=" for old clients that only understand the pre-standard form.
            list += ["AUTH PLAIN LOGIN", "AUTH=PLAIN LOGIN"]
        }
        list += ["ENHANCEDSTATUSCODES", "8BITMIME", "SMTPUTF8", "CHUNKING"]
        return list
    }

    private var authenticationPermitted: Bool {
        session.tls != nil || (configuration.listener.allowPlaintextAuthentication && !configuration.listener.requireTLS)
    }

    private mutating func startTLS() {
        switch configuration.listener.tls {
        case .none: return reply(.commandNotImplemented)
        case .implicit: return reply(.badSequence("TLS already active"))
        case .starttls: break
        }
        guard session.tls == nil else { return reply(.badSequence("TLS already active")) }
        guard configuration.startTLSAvailable else { return reply(.tlsNotAvailable) }
        guard transaction == nil else { return reply(.badSequence("MAIL transaction in progress")) }
        // Anything the client sent after STARTTLS was sent before it saw our 220 and is never
        // executed (CVE-2011-0411).
        let discarded = decoder.discardBufferedInput()
        pending.append(.reply(.readyToStartTLS))
        pending.append(.startTLS(discardedBytes: discarded))
        suspension = .tlsHandshake
        // RFC 3207 §4.2: forget everything learnt from the client before TLS.
        session.heloName = nil
        session.usedEHLO = false
        session.authenticatedUser = nil
    }

    // MARK: AUTH

    private mutating func authenticate(mechanism: String, initialResponse: String?) {
        guard configuration.authenticationAvailable else { return reply(.badSequence("authentication not enabled")) }
        guard session.usedEHLO else { return reply(.badSequence("send EHLO first")) }
        guard session.authenticatedUser == nil else { return reply(.badSequence("already authenticated")) }
        guard transaction == nil else { return reply(.badSequence("MAIL transaction in progress")) }
        guard authenticationPermitted else { return reply(.encryptionRequiredForAuthentication) }
        switch mechanism {
        case "PLAIN":
            if let initialResponse {
                authenticationResponse(Array(initialResponse.utf8), [], .plain)
            } else {
                state = .authResponse(.plain)
                pending.append(.reply(.authenticationChallenge("")))
            }
        case "LOGIN":
            if let initialResponse {
                authenticationResponse(Array(initialResponse.utf8), [], .loginUsername)
            } else {
                state = .authResponse(.loginUsername)
                pending.append(.reply(.authenticationChallenge(Self.loginUsernamePrompt)))
            }
        default:
            reply(.unrecognizedAuthenticationType)
        }
    }

    /// A client response in an AUTH exchange (or the initial response). Never logged.
    private mutating func authenticationResponse(_ line: [UInt8], _ defects: SMTPInboundDecoder.LineDefects, _ step: AuthStep) {
        if defects.contains(.nul) { return reply(.nulInCommand) }
        if defects.contains(.bareCR) || (defects.contains(.bareLF) && configuration.listener.lineEndings == .strict) {
            return reply(.bareLineEndingInCommand)
        }
        if line == [UInt8(ascii: "*")] { return reply(.authenticationCancelled) }
        // "=" is an empty initial response (RFC 4954 §4).
        let encoded = line == [UInt8(ascii: "=")] ? [] : line
        guard let decoded = Base64.decode(encoded) else { return reply(.cannotDecodeResponse) }
        switch step {
        case .plain:
            // authzid NUL authcid NUL passwd (RFC 4616).
            let parts = decoded.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, !parts[1].isEmpty, !parts[2].contains(0) else {
                return reply(.malformedAuthenticationResponse)
            }
            guard let username = Self.utf8(parts[1]), let password = Self.utf8(parts[2]), let authorization = Self.utf8(parts[0]),
                  authorization.isEmpty || authorization == username
            else { return reply(.authenticationFailed) }
            verify(username: username, password: password)
        case .loginUsername:
            guard !decoded.isEmpty, let username = Self.utf8(decoded[...]) else { return reply(.malformedAuthenticationResponse) }
            state = .authResponse(.loginPassword(username))
            pending.append(.reply(.authenticationChallenge(Self.loginPasswordPrompt)))
        case .loginPassword(let username):
            guard let password = Self.utf8(decoded[...]) else { return reply(.authenticationFailed) }
            verify(username: username, password: password)
        }
    }

    private mutating func verify(username: String, password: String) {
        suspension = .credentials(username)
        pending.append(.verifyCredentials(username: username, password: password, session))
    }

    private static func utf8(_ bytes: ArraySlice<UInt8>) -> String? {
        let text = String(decoding: bytes, as: UTF8.self)
        return text.utf8.elementsEqual(bytes) ? text : nil
    }

    // MARK: Content

    private mutating func chunkCommand(size: Int, last: Bool) {
        func reject(_ rejection: SMTPReply) {
            resetTransaction()
            decoder.beginMessage()
            state = .chunk(size: size, last: last, rejection: rejection)
        }
        guard var current = transaction else { return reject(.badSequence("need MAIL command")) }
        guard !current.envelope.recipients.isEmpty else {
            return reject(current.rejectedRecipients > 0 ? .noValidRecipients : .badSequence("need RCPT command"))
        }
        guard size <= configuration.limits.maximumMessageSize - current.octets else { return reject(.messageTooBig) }
        state = .chunk(size: size, last: last, rejection: nil)
        if !current.usedChunking {
            current.usedChunking = true
            transaction = current
            decoder.beginMessage()
            suspension = .sinkOpen(.chunk)
            pending.append(.openSink(current.envelope, session))
        }
    }

    private mutating func content(_ bytes: ByteBuffer) {
        // A rejected chunk has no transaction: its octets are dropped.
        guard var current = transaction else { return }
        current.octets += bytes.readableBytes
        if current.octets > configuration.limits.maximumMessageSize, !current.oversize {
            // Keep reading to the end, store nothing more.
            current.oversize = true
            if current.sinkOpen {
                current.sinkOpen = false
                pending.append(.discardSink)
            }
        }
        if current.sinkOpen, !current.storageFailed {
            suspension = .sinkAppend
            pending.append(.appendToSink(bytes))
        }
        transaction = current
    }

    private mutating func chunkEnded(_ defects: SMTPInboundDecoder.ContentDefects) {
        guard case .chunk(let size, let last, let rejection) = state else { return }
        state = .commands
        if let rejection { return reply(rejection) }
        guard let current = transaction else { return }
        if current.storageFailed {
            resetTransaction()
            return reply(.storageFailed)
        }
        if last {
            finishMessage(defects)
        } else {
            reply(.chunkReceived(size))
        }
    }

    private mutating func finishMessage(_ defects: SMTPInboundDecoder.ContentDefects) {
        guard let current = transaction else { return }
        let rejection: SMTPReply?
        if current.oversize {
            rejection = .messageTooBig
        } else if configuration.listener.lineEndings == .strict, !defects.isDisjoint(with: [.bareLF, .bareCR]) {
            rejection = .bareLineEndingInMessage
        } else if defects.contains(.longLine) {
            rejection = .messageLineTooLong(configuration.limits.maximumTextLineLength)
        } else if current.storageFailed {
            rejection = .storageFailed
        } else {
            rejection = nil
        }
        if let rejection {
            resetTransaction()
            return reply(rejection)
        }
        suspension = .delivery
        pending.append(.deliver(current.envelope, session))
    }

    // MARK: Helpers

    private mutating func resetTransaction() {
        discardOpenSink()
        transaction = nil
    }

    private mutating func discardOpenSink() {
        if transaction?.sinkOpen == true {
            transaction?.sinkOpen = false
            pending.append(.discardSink)
        }
    }

    private mutating func reply(_ reply: SMTPReply) {
        pending.append(.reply(reply))
        if reply.code >= 400 {
            countError()
        }
    }

    private mutating func countError() {
        errorCount += 1
        if errorCount >= configuration.limits.maximumErrors {
            close(with: .tooManyErrors(hostname: configuration.hostname))
        }
    }

    private mutating func policyRejected(_ rejection: SMTPReply) {
        let normalized = Self.normalizedRejection(rejection)
        if normalized.code == 421 {
            close(with: normalized)
        } else {
            reply(normalized)
        }
    }

    /// Queues the last reply and closes; later events are ignored.
    private mutating func close(with reply: SMTPReply) {
        guard !isClosed else { return }
        discardOpenSink()
        state = .closed
        suspension = nil
        pending.append(.replyAndClose(reply))
    }

    /// A policy rejection must be 4xx/5xx, with an enhanced status of the same class.
    static func normalizedRejection(_ reply: SMTPReply) -> SMTPReply {
        guard (400...599).contains(reply.code) else { return .internalError }
        return matchingStatusClass(reply)
    }

    /// A delivery answer must be 2xx, 4xx or 5xx.
    static func normalizedDeliveryReply(_ reply: SMTPReply) -> SMTPReply {
        guard (200...299).contains(reply.code) || (400...599).contains(reply.code) else { return .internalError }
        return matchingStatusClass(reply)
    }

    private static func matchingStatusClass(_ reply: SMTPReply) -> SMTPReply {
        var reply = reply
        if var status = reply.enhancedStatusCode, status.statusClass != reply.code / 100 {
            status.statusClass = reply.code / 100
            reply.enhancedStatusCode = status
        }
        return reply
    }
}
