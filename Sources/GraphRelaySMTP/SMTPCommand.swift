/// One parsed SMTP command (RFC 5321, 3207, 3030, 4954).
enum SMTPCommand: Sendable, Hashable {
    case ehlo(String)
    case helo(String)
    case mail(SMTPReversePath, SMTPMailParameters)
    case rcpt(SMTPForwardPath)
    case data
    /// `BDAT <size> [LAST]` (RFC 3030): exactly `size` octets follow the command line.
    case bdat(size: Int, last: Bool)
    case rset
    case noop
    case quit
    case vrfy(String)
    case expn
    case help
    case startTLS
    /// `AUTH <mechanism> [initial-response]`, mechanism upper-cased.
    case auth(mechanism: String, initialResponse: String?)

    /// EHLO, HELO, NOOP, RSET, VRFY, EXPN and HELP: harmless, but a client sending nothing else
    /// is stalling (Postfix's `smtpd_junk_command_limit`). A normal session needs one or two
    /// EHLOs per message (again after STARTTLS).
    var isJunk: Bool {
        switch self {
        case .ehlo, .helo, .noop, .rset, .vrfy, .expn, .help: true
        default: false
        }
    }
}
