import NIOCore
import Testing
@testable import GraphRelaySMTP

/// Draining (`smtp.drainTimeout`): a transaction under way may finish, nothing new starts.
extension SMTPSessionStateMachineTests {
    @Test("drain: a session after MAIL FROM finishes its message and is then told 421 4.3.2; one that RSETs is told at its next command; QUIT still gets 221")
    func drainLetsTheTransactionFinish() {
        var harness = greeted()
        harness.send("EHLO client\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\n")
        _ = harness.takeStatuses()
        harness.run(harness.machine.shutdownRequested())
        #expect(!harness.closed, "the transaction may go on")
        harness.send("DATA\r\nhello\r\n.\r\n")
        #expect(harness.takeStatuses() == ["354", "250 2.0.0", "421 4.3.2"])
        #expect(harness.closed && harness.deliveries.count == 1)

        var abandoned = greeted()
        abandoned.send("EHLO client\r\nMAIL FROM:<a@x>\r\n")
        _ = abandoned.takeStatuses()
        abandoned.run(abandoned.machine.shutdownRequested())
        abandoned.send("RSET\r\n")
        #expect(abandoned.takeStatuses() == ["250 2.0.0"])
        abandoned.send("MAIL FROM:<a@x>\r\n")
        #expect(abandoned.takeStatuses() == ["421 4.3.2"] && abandoned.closed)

        var leaving = greeted()
        leaving.send("EHLO client\r\nMAIL FROM:<a@x>\r\n")
        _ = leaving.takeStatuses()
        leaving.run(leaving.machine.shutdownRequested())
        leaving.send("QUIT\r\n")
        #expect(leaving.takeStatuses() == ["221 2.0.0"] && leaving.closed)

        var idle = greeted()
        idle.send("EHLO client\r\nMAIL FROM:<a@x>\r\nRSET\r\n")
        _ = idle.takeStatuses()
        idle.run(idle.machine.shutdownRequested())
        #expect(idle.takeStatuses() == ["421 4.3.2"] && idle.closed, "no transaction: told at once")
    }

    @Test("drain timeout: told 421 4.3.2 in the middle of the message, which is thrown away")
    func drainTimeoutInterrupts() {
        var harness = greeted()
        harness.send("EHLO client\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\nfirst line\r\n")
        _ = harness.takeStatuses()
        harness.run(harness.machine.shutdownRequested())
        #expect(!harness.closed)
        harness.run(harness.machine.shutdownRequested(force: true))
        #expect(harness.takeStatuses() == ["421 4.3.2"] && harness.closed)
        #expect(harness.deliveries.isEmpty && harness.sinksDiscarded == 1)
    }
}
