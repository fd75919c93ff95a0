/// The replies the listener itself sends. Each rejection's code and enhanced status is listed in
/// docs/smtp.md; tests assert them exactly.
extension SMTPReply {
    // MARK: Positive replies a policy may want to reuse

    /// `250 2.0.0 Ok`
    public static let ok = SMTPReply(250, "2.0.0", "Ok")
    /// `250 2.0.0 Ok: queued as <id>`, the customary answer to an accepted message.
    public static func queued(as id: String) -> SMTPReply { SMTPReply(250, "2.0.0", "Ok: queued as \(id)") }

    // MARK: Rejections a policy may want to reuse

    /// `554 5.7.1 <recipient>: Relay access denied`, what the listener answers to every recipient
    /// when no policy is configured.
    public static func relayAccessDenied(_ recipient: String) -> SMTPReply {
        SMTPReply(554, "5.7.1", "<\(recipient)>: Relay access denied")
    }

    /// `451 4.3.0 Error: internal error`, replacing a malformed policy reply.
    public static let internalError = SMTPReply(451, "4.3.0", "Error: internal error, try again later")

    // MARK: Session

    static func greeting(hostname: String, banner: String) -> SMTPReply {
        SMTPReply(code: 220, lines: ["\(hostname) \(banner)"])
    }
    static let bye = SMTPReply(221, "2.0.0", "Bye")
    static func helo(hostname: String) -> SMTPReply { SMTPReply(code: 250, lines: [hostname]) }
    static func ehlo(hostname: String, extensions: [String]) -> SMTPReply {
        SMTPReply(code: 250, lines: [hostname] + extensions)
    }
    static let senderOk = SMTPReply(250, "2.1.0", "Ok")
    static let recipientOk = SMTPReply(250, "2.1.5", "Ok")
    static let startMailInput = SMTPReply(code: 354, lines: ["End data with <CR><LF>.<CR><LF>"])
    static func chunkReceived(_ octets: Int) -> SMTPReply { SMTPReply(250, "2.0.0", "Ok: \(octets) octets received") }
    static let cannotVerify = SMTPReply(252, "2.0.0", "Cannot VRFY user, but will accept message and attempt delivery")
    static let help = SMTPReply(code: 214, enhancedStatusCode: .init(2, 0, 0), lines: [
        "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH",
        "See RFC 5321",
    ])
    static let readyToStartTLS = SMTPReply(220, "2.0.0", "Ready to start TLS")
    static let authenticationSucceeded = SMTPReply(235, "2.7.0", "Authentication successful")
    static func authenticationChallenge(_ base64: String) -> SMTPReply { SMTPReply(code: 334, lines: [base64]) }

    // MARK: Connection-level (421 closes the connection)

    static func tooManyConnections(hostname: String) -> SMTPReply {
        SMTPReply(421, "4.7.0", "\(hostname) Error: too many connections")
    }
    static func tooManyConnections(hostname: String, from client: String) -> SMTPReply {
        SMTPReply(421, "4.7.0", "\(hostname) Error: too many connections from \(client)")
    }
    static func tooManyErrors(hostname: String) -> SMTPReply { SMTPReply(421, "4.7.0", "\(hostname) Error: too many errors") }
    static func timeout(hostname: String) -> SMTPReply { SMTPReply(421, "4.4.2", "\(hostname) Error: timeout exceeded") }
    static func sessionTooLong(hostname: String) -> SMTPReply {
        SMTPReply(421, "4.4.2", "\(hostname) Error: session time limit exceeded")
    }
    static func transferTooLong(hostname: String) -> SMTPReply {
        SMTPReply(421, "4.4.2", "\(hostname) Error: message transfer time limit exceeded")
    }
    static func shuttingDown(hostname: String) -> SMTPReply {
        SMTPReply(421, "4.3.2", "\(hostname) Service shutting down, closing transmission channel")
    }
    static let inputBeforeGreeting = SMTPReply(554, "5.5.1", "Error: input before greeting")

    // MARK: Command syntax and sequence

    static let commandUnrecognized = SMTPReply(500, "5.5.1", "Error: command not recognized")
    static let commandNotImplemented = SMTPReply(502, "5.5.1", "Error: command not implemented")
    static let lineTooLong = SMTPReply(500, "5.5.2", "Error: line too long")
    static let authenticationLineTooLong = SMTPReply(500, "5.5.6", "Authentication exchange line is too long")
    static let bareLineEndingInCommand = SMTPReply(501, "5.5.2", "Syntax error: bare <CR> or <LF> in command")
    static let nulInCommand = SMTPReply(501, "5.5.2", "Syntax error: NUL character in command")
    static func syntax(_ usage: String) -> SMTPReply { SMTPReply(501, "5.5.4", "Syntax: \(usage)") }
    static func badSequence(_ text: String) -> SMTPReply { SMTPReply(503, "5.5.1", "Error: \(text)") }
    static func unsupportedParameter(_ name: String) -> SMTPReply { SMTPReply(555, "5.5.4", "Unsupported option: \(name)") }
    static func badParameter(_ text: String) -> SMTPReply { SMTPReply(501, "5.5.4", "Syntax error in parameters: \(text)") }

    // MARK: Envelope

    static func badSenderSyntax(_ detail: String) -> SMTPReply { SMTPReply(501, "5.1.7", "Bad sender address syntax: \(detail)") }
    static func badRecipientSyntax(_ detail: String) -> SMTPReply { SMTPReply(501, "5.1.3", "Bad recipient address syntax: \(detail)") }
    static let smtpUTF8Required = SMTPReply(553, "5.6.7", "Non-ASCII address needs the SMTPUTF8 parameter")
    static let messageTooBig = SMTPReply(552, "5.3.4", "Message size exceeds fixed limit")
    static let tooManyRecipients = SMTPReply(452, "4.5.3", "Error: too many recipients")
    static let noValidRecipients = SMTPReply(554, "5.5.1", "Error: no valid recipients")

    // MARK: Message content

    static let bareLineEndingInMessage = SMTPReply(550, "5.5.2", "Error: message contains bare <CR> or <LF> line endings")
    static func messageLineTooLong(_ limit: Int) -> SMTPReply {
        SMTPReply(554, "5.6.0", "Error: message has a line longer than \(limit) octets")
    }
    /// The message could not be stored (spool or temporary file): the client keeps it and retries.
    public static let storageFailed = SMTPReply(451, "4.3.0", "Error: queue file write error")

    // MARK: TLS

    static let tlsNotAvailable = SMTPReply(454, "4.7.0", "TLS not available due to temporary reason")
    static let tlsRequired = SMTPReply(530, "5.7.0", "Must issue a STARTTLS command first")

    // MARK: AUTH (RFC 4954)

    static let encryptionRequiredForAuthentication = SMTPReply(538, "5.7.11", "Encryption required for requested authentication mechanism")
    static let unrecognizedAuthenticationType = SMTPReply(504, "5.5.4", "Unrecognized authentication type")
    static let authenticationCancelled = SMTPReply(501, "5.7.0", "Authentication aborted")
    static let cannotDecodeResponse = SMTPReply(501, "5.5.2", "Cannot decode response")
    static let malformedAuthenticationResponse = SMTPReply(501, "5.5.2", "Malformed authentication response")
    static let authenticationFailed = SMTPReply(535, "5.7.8", "Authentication credentials invalid")
    static let authenticationTemporarilyUnavailable = SMTPReply(454, "4.7.0", "Temporary authentication failure, try again later")
}
