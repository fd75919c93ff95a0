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
/// - Whatever the phase, no message's content takes longer than
///   ``SMTPLimits/maximumDataDuration`` and no session longer than
///   ``SMTPLimits/maximumSessionDuration`` (from ``sessionStarted(now:)``); ``expiry`` says which
///   limit the deadline is.
struct SMTPInputDeadline {
    /// What a passed deadline means.
    enum Expiry: Hashable {
        /// The client was idle or too slow (command timeout, command deadline, data rate).
        case input
        /// One message's content took longer than ``SMTPLimits/maximumDataDuration``.
        case dataDuration
        /// The session lasted ``SMTPLimits/maximumSessionDuration``.
        case sessionDuration
    }

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
    let maximumDataDuration: TimeAmount
    let maximumSessionDuration: TimeAmount

    private var phase: Phase = .none
    /// The input deadline of the phase; ``deadline`` is the earliest of it and the caps.
    private var inputDeadline: NIODeadline?
    private(set) var deadline: NIODeadline?
    private(set) var expiry: Expiry = .input
    private var sessionEnd: NIODeadline?
    /// When the content of the current message must be complete, however fast it arrives.
    private var dataEnd: NIODeadline?
    /// The content deadline survives suspensions (storage appends) between reads.
    private var contentDeadline: NIODeadline?
    private var suspendedAt: NIODeadline?

    init(limits: SMTPLimits) {
        commandTimeout = limits.commandTimeout
        commandDeadline = limits.commandDeadline
        minimumDataRate = max(1, limits.minimumDataRate)
        maximumDataDuration = limits.maximumDataDuration
        maximumSessionDuration = limits.maximumSessionDuration
    }

    /// The session began: its lifetime counts from here.
    mutating func sessionStarted(now: NIODeadline) {
        sessionEnd = now + maximumSessionDuration
    }

    /// The server waits for a command. `partial`: part of a line is buffered; `progressed`: at
    /// least one line was completed since the last call (a new line may have started).
    mutating func awaitingCommand(partial: Bool, progressed: Bool, now: NIODeadline) {
        contentDeadline = nil
        dataEnd = nil
        suspendedAt = nil
        if partial {
            if phase != .commandInProgress || progressed {
                inputDeadline = now + min(commandDeadline, commandTimeout)
                phase = .commandInProgress
            }
        } else if phase != .awaitingCommand || progressed {
            phase = .awaitingCommand
            inputDeadline = now + commandTimeout
        }
        combine()
    }

    /// The server reads content (DATA or BDAT).
    mutating func receivingContent(now: NIODeadline) {
        if var current = contentDeadline {
            if let suspendedAt {
                current = current + (now - suspendedAt)
                dataEnd = dataEnd.map { $0 + (now - suspendedAt) }
                self.suspendedAt = nil
            }
            contentDeadline = current
        } else {
            contentDeadline = now + commandTimeout
            dataEnd = now + maximumDataDuration
        }
        phase = .content
        inputDeadline = contentDeadline
        combine()
    }

    /// `count` octets of content arrived.
    mutating func contentReceived(_ count: Int, now: NIODeadline) {
        guard let current = contentDeadline else { return }
        let credit = TimeAmount.nanoseconds(Int64(count) * 1_000_000_000 / Int64(minimumDataRate))
        contentDeadline = min(current + credit, now + commandTimeout)
        if phase == .content {
            inputDeadline = contentDeadline
            combine()
        }
    }

    /// The server is busy: no deadline until the next phase.
    mutating func suspended(now: NIODeadline) {
        if phase != .suspended, contentDeadline != nil { suspendedAt = now }
        phase = .suspended
        inputDeadline = nil
        deadline = nil
    }

    /// No more deadlines (the session is over).
    mutating func stop() {
        phase = .none
        inputDeadline = nil
        deadline = nil
        contentDeadline = nil
        dataEnd = nil
        sessionEnd = nil
    }

    /// ``deadline``: the phase's input deadline, or a cap that comes first.
    private mutating func combine() {
        deadline = inputDeadline
        expiry = .input
        if let dataEnd, phase == .content, deadline.map({ dataEnd < $0 }) ?? true {
            deadline = dataEnd
            expiry = .dataDuration
        }
        if let sessionEnd, deadline.map({ sessionEnd < $0 }) ?? true {
            deadline = sessionEnd
            expiry = .sessionDuration
        }
    }

    func isExpired(now: NIODeadline) -> Bool {
        guard let deadline else { return false }
        return now >= deadline
    }
}
