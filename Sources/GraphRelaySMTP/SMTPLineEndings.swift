/// How a listener treats line endings other than CRLF, in commands and in message content.
///
/// The end of a DATA message is `<CR><LF>.<CR><LF>` in every mode but ``legacyLF``: a bare LF or a
/// bare CR never ends a message (SMTP smuggling, CVE-2023-51764/51765/51766).
public enum SMTPLineEndings: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// The default. Bare CR or bare LF in a message: the message is read to its real end and then
    /// refused with `550 5.5.2`. In commands they are refused with `501 5.5.2`.
    case strict
    /// Bare-LF lines are stored as CRLF lines (Postfix's `smtpd_forbid_bare_newline = normalize`);
    /// the message still ends only at `<CR><LF>.<CR><LF>`. For devices that send LF-only content.
    case normalize
    /// Like ``normalize``, and the message also ends at `<LF>.<LF>` (and `<LF>.<CR><LF>`,
    /// `<CR><LF>.<LF>`). **Smuggling-prone**: only for a listener reserved to old LF-only devices
    /// that never relay mail from elsewhere. Never the default.
    case legacyLF = "legacy-lf"

    public var description: String { rawValue }
}
