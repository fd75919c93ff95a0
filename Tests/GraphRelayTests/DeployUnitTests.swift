import Foundation
import GraphRelayTestSupport
import Testing

@Suite("The systemd unit")
struct DeployUnitTests {
    static let unit = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("deploy/graph-relay.service").path

    @Test("systemd-analyze security rates the unit's exposure at 2.0 or below (OK)")
    func exposure() async throws {
        guard ProcessRunner.which("systemd-analyze") != nil else {
            Issue.record("systemd-analyze is missing (Debian package systemd; make deps installs it)")
            return
        }
        let result = try await ProcessRunner.run("systemd-analyze", ["security", "--offline=true", "--threshold=20", Self.unit])
        let overall = result.stdout.split(separator: "\n").first { $0.contains("Overall exposure level") }
        #expect(result.status == 0, "\(overall ?? "no score")\n\(result.stdout.suffix(2000))")
        let text = try String(contentsOfFile: Self.unit, encoding: .utf8)
        for line in ["UMask=0077", "SystemCallFilter=@system-service", "ProtectProc=invisible", "NoNewPrivileges=yes"] {
            #expect(text.contains("\n\(line)\n"), "missing \(line)")
        }
    }
}
