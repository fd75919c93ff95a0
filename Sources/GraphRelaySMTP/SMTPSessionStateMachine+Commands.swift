import GraphRelayMIME
import GraphRelayTLS
import NIOCore

// Command lines: decoding events, the commands, EHLO's extensions and STARTTLS.
extension SMTPSessionStateMachine {
    // MARK: Decoder events

    mutating func handle(_ event: SMTPInboundDecoder.Event) {
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

    mutating func commandLine(_ line: [UInt8], _ defects: SMTPInboundDecoder.LineDefects) {
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

    static func isAuthCommand(_ line: [UInt8]) -> Bool {
        line.count > 5 && line.prefix(5).map(SMTPCommandParser.asciiUppercased) == Array("AUTH ".utf8)
    }

    // MARK: Commands

    mutating func execute(_ command: SMTPCommand) {
        let limits = configuration.limits
        // Draining: the transaction that was under way is over (or was abandoned); no new one.
        if shutdownPending, transaction == nil, command != .quit {
            return close(with: .shuttingDown(hostname: configuration.hostname))
        }
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
            if let size = parameters.size, size > limits.maximumMessageSize { return refuse(.messageTooBig) }
            suspension = .sender(path, parameters)
            pending.append(.checkSender(path, parameters, session))
        case .rcpt(let path):
            guard let current = transaction else { return reply(.badSequence("need MAIL command")) }
            guard !current.usedChunking else { return reply(.badSequence("RCPT after BDAT")) }
            guard current.envelope.recipients.count < limits.maximumRecipients else {
                transaction?.excessRecipients += 1
                pending.append(.refused(.tooManyRecipients))
                pending.append(.reply(.tooManyRecipients))
                if current.excessRecipients + 1 > Self.recipientOvershootLimit { countError() }
                return
            }
            if let mailbox = path.mailbox, !mailbox.isASCII, !current.envelope.parameters.smtpUTF8 {
                return refuse(.smtpUTF8Required)
            }
            suspension = .recipient(path)
            pending.append(.checkRecipient(path, current.envelope, session))
        case .data:
            guard let current = transaction else { return reply(.badSequence("need MAIL command")) }
            guard !current.usedChunking else { return reply(.badSequence("DATA after BDAT")) }
            guard !current.envelope.recipients.isEmpty else {
                return current.rejectedRecipients > 0 ? refuse(.noValidRecipients) : reply(.badSequence("need RCPT command"))
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

    func extensions() -> [String] {
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

    var authenticationPermitted: Bool {
        session.tls != nil || (configuration.listener.allowPlaintextAuthentication && !configuration.listener.requireTLS)
    }

    mutating func startTLS() {
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
}
