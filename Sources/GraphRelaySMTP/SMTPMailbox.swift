/// A mailbox from an SMTP envelope: `local-part@domain`, exactly as the client sent it (a quoted
/// local part keeps its quotes, a domain may be an address literal such as `[192.0.2.1]`, and
/// internationalised addresses are UTF-8).
public struct SMTPMailbox: Sendable, Hashable, CustomStringConvertible {
    /// The local part as sent, e.g. `john.doe` or `"john doe"`.
    public var localPart: String
    /// The domain or address literal. Empty only for an unqualified sender (`MAIL FROM:<scanner>`),
    /// which the listener accepts as Postfix does; the policy decides what to do with it.
    public var domain: String

    public init(localPart: String, domain: String) {
        self.localPart = localPart
        self.domain = domain
    }

    /// `local@domain`, or just the local part when unqualified.
    public var description: String { domain.isEmpty ? localPart : "\(localPart)@\(domain)" }

    /// Whether the address is plain ASCII (otherwise it needs `SMTPUTF8`).
    public var isASCII: Bool { localPart.utf8.allSatisfy { $0 < 0x80 } && domain.utf8.allSatisfy { $0 < 0x80 } }
}

/// The `MAIL FROM` path: a mailbox or the null sender `<>` (bounces and notifications).
public enum SMTPReversePath: Sendable, Hashable, CustomStringConvertible {
    case null
    case mailbox(SMTPMailbox)

    /// The address without angle brackets; empty for the null sender.
    public var address: String {
        switch self {
        case .null: ""
        case .mailbox(let mailbox): mailbox.description
        }
    }

    public var mailbox: SMTPMailbox? {
        if case .mailbox(let mailbox) = self { return mailbox }
        return nil
    }

    /// `<address>`, `<>` for the null sender.
    public var description: String { "<\(address)>" }
}

/// A `RCPT TO` path: a mailbox, or the special `<Postmaster>` without a domain (RFC 5321 §4.5.1).
public enum SMTPForwardPath: Sendable, Hashable, CustomStringConvertible {
    case postmaster
    case mailbox(SMTPMailbox)

    /// The address without angle brackets (`postmaster` for the bare postmaster).
    public var address: String {
        switch self {
        case .postmaster: "postmaster"
        case .mailbox(let mailbox): mailbox.description
        }
    }

    public var mailbox: SMTPMailbox? {
        if case .mailbox(let mailbox) = self { return mailbox }
        return nil
    }

    /// `<address>`.
    public var description: String { "<\(address)>" }
}
