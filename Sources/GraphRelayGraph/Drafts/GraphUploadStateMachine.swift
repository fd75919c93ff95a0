import Foundation

/// The rules of one attachment upload session (`createUploadSession`, then `PUT` of byte ranges
/// to the session's `uploadUrl`), as a pure state machine: which request comes next, and what
/// a failure leads to. ``GraphClient/uploadAttachment(mailbox:draftID:attachment:content:logger:)``
/// performs the requests.
///
/// - Every chunk but the last is a multiple of 320 KiB and at most 4 MiB (Graph's rules); its
///   start is the first of the session's `nextExpectedRanges`.
/// - After a failed chunk the session is asked where it stands (`GET uploadUrl`), and the upload
///   goes on from its `nextExpectedRanges`; after ``maxFailures`` failures of one attachment it
///   gives up with the last failure.
/// - A session that is gone (404: expired, or cancelled by the server) is replaced by a new one
///   that starts from byte 0, at most ``maxSessions`` times.
/// - A permanent refusal (a 4xx other than 404/408/429) ends the upload at once.
struct GraphUploadStateMachine: Sendable {
    /// The quantum of chunk sizes: 320 KiB.
    static let chunkQuantum = 320 * 1024
    /// The largest chunk Graph accepts: 4 MiB.
    static let maximumChunk = 4 * 1024 * 1024

    enum Action: Sendable, Equatable {
        /// `POST …/attachments/createUploadSession`.
        case createSession
        /// `PUT` these bytes of the attachment to the session.
        case upload(Range<Int>)
        /// `GET` the session's state, after waiting this long.
        case queryStatus(after: Duration)
        /// The attachment is complete.
        case finished
        /// Give up.
        case failed(GraphSendFailure)
    }

    private enum State: Sendable {
        case idle
        case creating
        case uploading(Range<Int>)
        case querying
        case finished
        case failed
    }

    let size: Int
    let chunkSize: Int
    let maxFailures: Int
    let maxSessions: Int
    let retryDelay: Duration
    private var state = State.idle
    private var failures = 0
    private var sessions = 0

    /// - Parameter chunkSize: rounded down to a multiple of 320 KiB, between 320 KiB and 4 MiB.
    init(size: Int, chunkSize: Int, maxFailures: Int = 5, maxSessions: Int = 3, retryDelay: Duration = .seconds(1)) {
        self.retryDelay = retryDelay
        self.size = size
        let quantum = Self.chunkQuantum
        self.chunkSize = min(max(chunkSize / quantum, 1) * quantum, Self.maximumChunk / quantum * quantum)
        self.maxFailures = maxFailures
        self.maxSessions = maxSessions
    }

    mutating func start() -> Action {
        guard case .idle = state else { return fail("upload started twice") }
        return newSession()
    }

    /// The session exists; `nextExpected` is its `nextExpectedRanges` (`["0-"]` for a new one).
    mutating func sessionCreated(nextExpected: [String]) -> Action {
        guard case .creating = state else { return fail("unexpected upload session") }
        return next(from: nextExpected)
    }

    mutating func sessionFailed(_ failure: GraphSendFailure) -> Action {
        guard case .creating = state else { return fail("unexpected failure of the upload session") }
        return failed(failure)
    }

    /// A chunk was accepted: `complete` when Graph answered 201 (the attachment exists), else
    /// with the session's `nextExpectedRanges`.
    mutating func chunkSucceeded(complete: Bool, nextExpected: [String]) -> Action {
        guard case .uploading(let range) = state else { return fail("unexpected chunk answer") }
        if complete {
            guard range.upperBound == size else { return fail("Graph completed the attachment at byte \(range.upperBound) of \(size)") }
            state = .finished
            return .finished
        }
        if nextExpected.isEmpty {
            // No range left to send without a 201: only acceptable after the last byte.
            guard range.upperBound == size else { return fail("the upload session expects nothing more at byte \(range.upperBound) of \(size)") }
            state = .finished
            return .finished
        }
        return next(from: nextExpected)
    }

    /// A chunk failed. `sessionGone`: Graph answered 404 (the session expired or was removed).
    mutating func chunkFailed(_ failure: GraphSendFailure, sessionGone: Bool) -> Action {
        guard case .uploading = state else { return fail("unexpected chunk failure") }
        return recover(failure, sessionGone: sessionGone)
    }

    mutating func statusReceived(nextExpected: [String]) -> Action {
        guard case .querying = state else { return fail("unexpected session status") }
        if nextExpected.isEmpty { return fail("the upload session reports nothing left to upload but never completed") }
        return next(from: nextExpected)
    }

    mutating func statusFailed(_ failure: GraphSendFailure, sessionGone: Bool) -> Action {
        guard case .querying = state else { return fail("unexpected session status failure") }
        return recover(failure, sessionGone: sessionGone)
    }

    // MARK: Internals

    private mutating func recover(_ failure: GraphSendFailure, sessionGone: Bool) -> Action {
        failures += 1
        if sessionGone {
            guard failures <= maxFailures else { return failed(failure) }
            return newSession(after: failure)
        }
        if failure.isPermanent { return failed(failure) }
        guard failures <= maxFailures else { return failed(failure) }
        state = .querying
        // 1 s, 2 s, 4 s, … unless Graph said how long.
        let backoff = retryDelay * (1 << min(failures - 1, 5))
        return .queryStatus(after: failure.retryAfter.map { min(max($0, .zero), .seconds(60)) } ?? backoff)
    }

    private mutating func newSession(after failure: GraphSendFailure? = nil) -> Action {
        guard sessions < maxSessions else {
            return failed(failure ?? GraphSendFailure(kind: .transient, mailbox: "", message: "no upload session could be used"))
        }
        sessions += 1
        state = .creating
        return .createSession
    }

    /// The next chunk from the first of `ranges` (`"start-"` or `"start-end"`).
    private mutating func next(from ranges: [String]) -> Action {
        guard let first = ranges.first, let (start, end) = Self.parseRange(first), start < size else {
            return fail("unusable nextExpectedRanges \(ranges) for an attachment of \(size) bytes")
        }
        var upper = min(size, start + chunkSize)
        if let end { upper = min(upper, end + 1) }
        if upper < size {
            // Every chunk but the last is a multiple of 320 KiB.
            let length = (upper - start) / Self.chunkQuantum * Self.chunkQuantum
            upper = start + max(length, min(Self.chunkQuantum, size - start))
        }
        state = .uploading(start..<upper)
        return .upload(start..<upper)
    }

    static func parseRange(_ text: String) -> (Int, Int?)? {
        let parts = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let start = Int(parts[0].trimmingCharacters(in: .whitespaces)), start >= 0 else { return nil }
        let endText = parts[1].trimmingCharacters(in: .whitespaces)
        if endText.isEmpty { return (start, nil) }
        guard let end = Int(endText), end >= start else { return nil }
        return (start, end)
    }

    private mutating func failed(_ failure: GraphSendFailure) -> Action {
        state = .failed
        return .failed(failure)
    }

    private mutating func fail(_ message: String) -> Action {
        failed(GraphSendFailure(kind: .transient, mailbox: "", message: "upload session: \(message)"))
    }
}
