import Foundation
import GraphRelayTLS
import GraphRelayTestSupport
import NIOCore
import NIOPosix
import Testing
@testable import GraphRelaySMTP

/// Clients that attack the listener's resources over real sockets: floods without reading,
/// STARTTLS behind a flood, endless sessions. They load the CPU, so `make test` runs them on
/// their own, one at a time (a flood keeps an event loop busy, and the other tests here measure
/// time).
@Suite("SMTP hostile clients over loopback", .serialized)
struct SMTPHostileClientTests {
    /// A client that sends commands without ever reading the replies, with a small receive
    /// buffer, so the server's output fills up. Prints `closed <octets>` when the server closed
    /// the connection, `held <octets>` when it was still open after `seconds`.
    static let silentReader = #"""
    import socket, sys, time
    port, seconds = int(sys.argv[1]), float(sys.argv[2])
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    block, sent, end = b"NOOP\r\n" * 1000, 0, time.time() + seconds
    while time.time() < end:
        try:
            sent += s.send(block)
        except BlockingIOError:
            time.sleep(0.05)
        except OSError:
            print("closed", sent, flush=True)
            sys.exit(0)
    print("held", sent, flush=True)
    """#

    @Test("a client that never reads: the session times out, and the last reply it will not read does not keep the slot")
    func silentReader() async throws {
        var limits = SMTPLimits()
        limits.maximumJunkCommands = 100_000_000
        limits.commandTimeout = .seconds(1)
        limits.finalReplyTimeout = .seconds(1)
        try await withSMTPServer(limits: limits) { fixture in
            let client = try BackgroundProcess("python3", ["-c", Self.silentReader, "\(fixture.plainPort)", "30"])
            defer { client.stop() }
            try await eventually("the connection", seconds: 10) { fixture.server.openConnectionCount == 1 }
            // The output fills, reads stop, the idle timeout answers 421 into a full buffer: closed
            // a second later however the client behaves.
            try await eventually("the slot to be released", seconds: 20) { fixture.server.openConnectionCount == 0 }
            #expect(await client.waitForOutput(containing: "closed", timeout: 10) != nil, "\(client.text)")
        }
    }

    /// A client that pipelines a flood of NOOPs, STARTTLS and (after `gap` seconds) plaintext
    /// commands behind it, reading replies only when it cannot send, through a small receive
    /// buffer: the server's output is full when STARTTLS is answered. Then the TLS handshake and
    /// HELP. Prints one line per attempt: `tls <first reply code>` or `refused <reason>` (the
    /// plaintext reached the TLS layer and spoilt the handshake: also never run).
    static let startTLSFlooder = #"""
    import select, socket, ssl, sys, time
    port, cafile = int(sys.argv[1]), sys.argv[2]
    def attempt(flood, gap):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", port))
        s.settimeout(20)
        got = b""
        def push(data):
            nonlocal got
            view = memoryview(data)
            while view:
                _, writable, _ = select.select([], [s], [], 0.2)
                if writable:
                    view = view[s.send(view):]
                else:
                    got += s.recv(2048)  # only when it must, a little
        while not got.endswith(b"\r\n"): got += s.recv(4096)
        s.sendall(b"EHLO c\r\n")
        while b"250 " not in got: got += s.recv(4096)
        got = b""
        push(b"NOOP\r\n" * flood + b"STARTTLS\r\n")
        time.sleep(gap)
        push(b"EHLO evil\r\nMAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@d.example>\r\n")
        while b"\r\n220 " not in got and not got.startswith(b"220 "): got += s.recv(65536)
        context = ssl.create_default_context(cafile=cafile)
        context.check_hostname = False
        try:
            t = context.wrap_socket(s)
            t.sendall(b"HELP\r\n")
            print("tls", t.recv(4096)[:3].decode(), flush=True)
            t.close()
        except (ssl.SSLError, OSError) as error:
            print("refused", type(error).__name__, flush=True)
    for flood in (20000,):
        for gap in (0, 0.05):
            attempt(flood, gap)
    print("done", flush=True)
    """#

    @Test("STARTTLS pipelined behind a flood by a client that does not read: nothing sent after it runs")
    func startTLSFlood() async throws {
        var limits = SMTPLimits()
        limits.maximumJunkCommands = 100_000_000
        try await withSMTPServer(limits: limits) { fixture in
            let client = try BackgroundProcess("python3", ["-c", Self.startTLSFlooder, "\(fixture.submissionPort)", TestPKI.shared.caCertificate])
            defer { client.stop() }
            let output = await client.waitForOutput(containing: "done", timeout: 120) ?? client.text
            let attempts = output.split(separator: "\n").filter { $0.hasPrefix("tls") || $0.hasPrefix("refused") }
            #expect(attempts.count == 2, "\(output)")
            // Inside TLS the first reply answers our HELP (214), never an injected command.
            #expect(attempts.allSatisfy { $0 == "tls 214" || $0.hasPrefix("refused") }, "\(output)")
            #expect(fixture.policy.senders.isEmpty, "an injected MAIL FROM reached the policy")
        }
    }

    @Test("sessions that never end: an EHLO loop, a session past its lifetime, a transfer past its cap")
    func sessionsThatNeverEnd() async throws {
        try await withSMTPServer { fixture in
            // 100 EHLOs are tolerated, then each counts as an error: the 20th closes the session.
            let looping = try await fixture.connect()
            _ = try await looping.readReply()
            try await looping.send(String(repeating: "EHLO c\r\n", count: 130))
            var last = ""
            for _ in 0..<121 { last = try await looping.readReply().status }
            #expect(last == "421 4.7.0")
            #expect(await looping.waitForClose())
        }
        var limits = SMTPLimits()
        limits.maximumSessionDuration = .seconds(3)
        limits.maximumDataDuration = .seconds(2)
        try await withSMTPServer(limits: limits) { fixture in
            // Busy but endless: a NOOP every 200 ms (junk limit raised by delivered messages).
            let busy = try await fixture.connect()
            _ = try await busy.readReply()
            let started = ContinuousClock.now
            var reply = try await busy.command("EHLO c")
            while reply.status.hasPrefix("2"), ContinuousClock.now - started < .seconds(10) {
                try await Task.sleep(for: .milliseconds(200))
                try? await busy.send("MAIL FROM:<a@b.example>\r\nRSET\r\n")  // fails once closed
                reply = try await busy.readReply()
                if reply.status.hasPrefix("2") { reply = try await busy.readReply() }
            }
            #expect(reply.status == "421 4.4.2" && reply.text.contains("session time limit"), "\(reply)")
            #expect(ContinuousClock.now - started < .seconds(8))

            // Content at a steady kilobyte every 100 ms, for longer than the transfer cap.
            let steady = try await fixture.connect()
            _ = try await steady.readReply()
            try await steady.send("EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n")
            for _ in 0..<4 { _ = try await steady.readReply() }
            let line = String(repeating: "x", count: 1000) + "\r\n"
            var cut: SMTPTestReply?
            let transfer = ContinuousClock.now
            let reader = Task { try await steady.readReply(timeout: .seconds(10)) }
            while ContinuousClock.now - transfer < .seconds(4) {
                try? await steady.send(line)
                try await Task.sleep(for: .milliseconds(100))
            }
            cut = try await reader.value
            #expect(cut?.status == "421 4.4.2" && cut?.text.contains("transfer time limit") == true, "\(String(describing: cut))")
        }
    }
}
