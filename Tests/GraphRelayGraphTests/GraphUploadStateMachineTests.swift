@testable import GraphRelayGraph
import Testing

@Suite("Upload session rules (state machine)")
struct GraphUploadStateMachineTests {
    typealias Machine = GraphUploadStateMachine
    static let kib320 = 320 * 1024

    func failure(_ kind: GraphSendFailure.Kind, status: Int? = nil) -> GraphSendFailure {
        GraphSendFailure(kind: kind, mailbox: "m@x", status: status, message: "test")
    }

    @Test("chunks are multiples of 320 KiB except the last, at most 4 MiB, in order")
    func chunking() {
        var machine = Machine(size: 5_000_000, chunkSize: 2_000_000)  // rounded down to 1,966,080 (6 × 320 KiB)
        #expect(machine.chunkSize == 6 * Self.kib320)
        #expect(machine.start() == .createSession)
        #expect(machine.sessionCreated(nextExpected: ["0-"]) == .upload(0..<1_966_080))
        #expect(machine.chunkSucceeded(complete: false, nextExpected: ["1966080-"]) == .upload(1_966_080..<3_932_160))
        #expect(machine.chunkSucceeded(complete: false, nextExpected: ["3932160-4999999"]) == .upload(3_932_160..<5_000_000))
        #expect(machine.chunkSucceeded(complete: true, nextExpected: []) == .finished)
        #expect(Machine(size: 1, chunkSize: 100 * 1024 * 1024).chunkSize == 12 * Self.kib320)  // at most 4 MiB
    }

    @Test("a failed chunk asks the session where it stands and goes on from there, with growing waits")
    func resume() {
        var machine = Machine(size: 3 * Self.kib320, chunkSize: Self.kib320, retryDelay: .seconds(1))
        _ = machine.start()
        _ = machine.sessionCreated(nextExpected: ["0-"])
        #expect(machine.chunkFailed(failure(.transient, status: 503), sessionGone: false) == .queryStatus(after: .seconds(1)))
        #expect(machine.statusReceived(nextExpected: ["0-"]) == .upload(0..<Self.kib320))
        #expect(machine.chunkFailed(failure(.transient), sessionGone: false) == .queryStatus(after: .seconds(2)))
        // The chunk had arrived after all: the upload skips it.
        #expect(machine.statusReceived(nextExpected: ["\(Self.kib320)-"]) == .upload(Self.kib320..<(2 * Self.kib320)))
        var throttled = failure(.throttled, status: 429)
        throttled.retryAfter = .seconds(7)
        #expect(machine.chunkFailed(throttled, sessionGone: false) == .queryStatus(after: .seconds(7)))
    }

    @Test("a session that is gone is replaced (a bounded number of times); permanent refusals and too many failures end it")
    func giveUp() {
        var machine = Machine(size: 1000, chunkSize: Self.kib320, maxFailures: 2, maxSessions: 2)
        _ = machine.start()
        _ = machine.sessionCreated(nextExpected: ["0-"])
        #expect(machine.chunkFailed(failure(.transient, status: 404), sessionGone: true) == .createSession)
        #expect(machine.sessionCreated(nextExpected: ["0-"]) == .upload(0..<1000))
        let gone = failure(.transient, status: 404)
        #expect(machine.chunkFailed(gone, sessionGone: true) == .failed(gone))

        var refused = Machine(size: 1000, chunkSize: Self.kib320)
        _ = refused.start()
        _ = refused.sessionCreated(nextExpected: ["0-"])
        let permanent = failure(.invalidContent, status: 400)
        #expect(refused.chunkFailed(permanent, sessionGone: false) == .failed(permanent))

        var nonsense = Machine(size: 1000, chunkSize: Self.kib320)
        _ = nonsense.start()
        guard case .failed(let reason) = nonsense.sessionCreated(nextExpected: ["5000-"]) else {
            Issue.record("a range beyond the content was accepted")
            return
        }
        #expect(reason.message.contains("unusable nextExpectedRanges"))
    }
}
