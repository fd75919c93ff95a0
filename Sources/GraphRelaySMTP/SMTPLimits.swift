import NIOCore

/// Resource limits of the listener. Every one is configurable; the defaults suit a relay for
/// printers, scanners and applications on a local network, and are the defaults of the
/// configuration's `smtp` keys too (one place for both).
public struct SMTPLimits: Sendable, Hashable {
    /// Longest command line in octets, CRLF included (RFC 5321 §4.5.3.1.4). Longer lines get
    /// `500 5.5.2`. Default 512.
    public var maximumCommandLineLength: Int = 512
    /// Longest AUTH command or AUTH response line in octets (RFC 4954 §4). Longer lines get
    /// `500 5.5.6`. Default 12288.
    public var maximumAuthenticationLineLength: Int = 12288
    /// Longest message text line in octets, line ending excluded. A message with a longer line is
    /// read to its end and refused with `554 5.6.0`. RFC 5322 asks for 998; the default is generous
    /// for sloppy devices: 65536.
    public var maximumTextLineLength: Int = 65536
    /// Recipients per message; further RCPTs get `452 4.5.3` (the first 1000 of those do not count
    /// as errors). Default 500 (Exchange Online's limit).
    public var maximumRecipients: Int = 500
    /// Largest message in octets, counted after dot-unstuffing, without the added `Received:`
    /// header. Advertised as `SIZE`; `MAIL … SIZE=` above it gets `552 5.3.4`, and a bigger message is
    /// read to its end and refused with `552 5.3.4`. Default 35 MiB (Exchange Online's default).
    public var maximumMessageSize: Int = 35 * 1024 * 1024
    /// Simultaneous connections over all listeners; beyond it a new client gets `421 4.7.0` (plain and
    /// STARTTLS listeners) or is closed (implicit TLS). Default 200.
    public var maximumConnections: Int = 200
    /// Simultaneous connections from one client (an IPv4 address, or an IPv6 /64: one host
    /// usually has a whole /64 to pick addresses from); beyond it `421 4.7.0`. Default 50.
    public var maximumConnectionsPerClient: Int = 50
    /// How long the server waits for the next command, and the base time allowed for DATA/BDAT
    /// content (RFC 5321 §4.5.3.2 asks for 5 minutes). On expiry `421 4.4.2` and close. Default 300 s.
    public var commandTimeout: TimeAmount = .seconds(300)
    /// How long one command line may take from its first octet to its line end, so a client
    /// trickling a byte a second cannot hold a slot. On expiry `421 4.4.2`. Default 60 s.
    public var commandDeadline: TimeAmount = .seconds(60)
    /// Minimum average rate of DATA/BDAT content in octets per second: every octet received extends
    /// the content deadline by 1/rate seconds, never beyond ``commandTimeout`` from now
    /// (Postfix's `smtpd_min_data_rate`). Default 500.
    public var minimumDataRate: Int = 500
    /// Error replies (4xx/5xx) per session; with the last one the client also gets `421 4.7.0` and is
    /// disconnected. Default 20.
    public var maximumErrors: Int = 20
    /// EHLO, HELO, NOOP, RSET, VRFY, EXPN and HELP: commands that make no progress. Beyond this
    /// many each further one counts as an error; the count starts again after each accepted
    /// message (Postfix's `smtpd_junk_command_limit`). Default 100.
    public var maximumJunkCommands: Int = 100
    /// The longest a session may last, however busy, so that no client holds a slot forever:
    /// after it `421 4.4.2` (at the next command, or at once while waiting for one). Default 1 h.
    public var maximumSessionDuration: TimeAmount = .hours(1)
    /// The longest the content of one message (after DATA, or of one BDAT chunk) may take to
    /// arrive, even at ``minimumDataRate``: after it `421 4.4.2`. Time the server spends storing
    /// does not count. Default 10 min.
    public var maximumDataDuration: TimeAmount = .minutes(10)
    /// How long a last reply (`421`, `221`) may wait for the client to read it before the
    /// connection is closed anyway, so a client that stops reading cannot hold its slot and
    /// buffers. Default 5 s.
    public var finalReplyTimeout: TimeAmount = .seconds(5)
    /// Delay before answering failed AUTH with `535 5.7.8`, to slow down password guessing.
    /// Default 1 s.
    public var authenticationFailureDelay: TimeAmount = .seconds(1)
    /// How long a listener with the PROXY protocol waits for the proxy's header before it closes
    /// the connection (no banner is sent before the header). Default 5 s.
    public var proxyHeaderTimeout: TimeAmount = .seconds(5)

    public init() {}
}
