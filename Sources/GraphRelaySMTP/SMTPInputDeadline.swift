import NIOCore

/// When the client must have sent its next input, free of I/O (the handler arms one timer at
/// ``deadline``).
///
/// - Waiting for a command: ``SMTPLimits/commandTimeout`` from the moment the server is ready.
/// - A command line has started: at most ``SMTPLimits/commandDeadline`` from its first octet.
/// - DATA/BDAT content: ``SMTPLimits/commandTimeout`` from the start, extended by
///   `octets / minimumDataRate` seconds per read but never beyond `commandTimeout` from now
///   (Postfix's `smtpd_min_data_rate`), so content must keep arriving at the minimum rate.
/// - While the server itself is busy (policy, storage, TLS handshake) no deadline runs; time spent
///   there does not count against the client.
struct SMTPInputDeadline {
    private enum Phase: Hashable {
        case none
        case awaitingCommand
        case commandInProgress
        case content
        case suspended
    }

    let commandTimeout: TimeAmount
    let commandDeadline: TimeAmount
    let minimumDataRate: Int

    private var phase: Phase = .none
    private(set) var deadline: NIODeadline?
    /// The content deadline survives suspensions (storage appends) between reads.
    private var contentDeadline: NIODeadline?
    private var suspendedAt: NIODeadline?

    init(limits: SMTPLimits) {
        commandTimeout = limits.commandTimeout
        commandDeadline = limits.commandDeadline
        minimumDataRate = max(1, limits.minimumDataRate)
    }

    /// The server waits for a command. `partial`: part of a line is buffered; `progressed`: at
    /// least one line was completed since the last call (a new line may have started).
    mutating func awaitingCommand(partial: Bool, progressed: Bool, now: NIODeadline) {
        contentDeadline = nil
        suspendedAt = nil
        if partial {
            if phase != .commandInProgress || progressed {
                deadline = now + min(commandDeadline, commandTimeout)
                phase = .commandInProgress
            }
        } else if phase != .awaitingCommand || progressed {
            phase = .awaitingCommand
            deadline = now + commandTimeout
        }
    }

    /// The server reads content (DATA or BDAT).
    mutating func receivingContent(now: NIODeadline) {
        if var current = contentDeadline {
            if let suspendedAt {
                current = current + (now - suspendedAt)
                self.suspendedAt = nil
            }
            contentDeadline = current
        } else {
            contentDeadline = now + commandTimeout
        }
        phase = .content
        deadline = contentDeadline
    }

    /// `count` octets of content arrived.
    mutating func contentReceived(_ count: Int, now: NIODeadline) {
        guard let current = contentDeadline else { return }
        let credit = TimeAmount.nanoseconds(Int64(count) * 1_000_000_000 / Int64(minimumDataRate))
        contentDeadline = min(current + credit, now + commandTimeout)
        if phase == .content { deadline = contentDeadline }
    }

    /// The server is busy: no deadline until the next phase.
    mutating func suspended(now: NIODeadline) {
        if phase != .suspended, contentDeadline != nil { suspendedAt = now }
        phase = .suspended
        deadline = nil
    }

    /// No more deadlines (the session is over).
    mutating func stop() {
        phase = .none
        deadline = nil
        contentDeadline = nil
    }

    func isExpired(now: NIODeadline) -> Bool {
        guard let deadline else { return false }
        return now >= deadline
    }
}
