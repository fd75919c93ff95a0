import Foundation
import GraphRelay
import GraphRelayTestSupport
import Testing

@Suite("graph-relay hash-password")
struct HashPasswordCommandTests {
    private let binary = QueueServerProcess.binary

    @Test("a password piped in is hashed (one trailing newline dropped); the hash verifies it")
    func hashesThePipedPassword() async throws {
        let result = try await ProcessRunner.run(binary, ["hash-password"], input: Data("pa ss wörd\n".utf8))
        #expect(result.status == 0, "\(result.stderr)")
        let hash = try PasswordHash(parsing: result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(hash.verify("pa ss wörd"))
        #expect(!hash.verify("pa ss wörd\n"))
    }

    @Test("no password, an unreadable standard input, or a whole file: exit 1 with the reason, no crash")
    func badInput() async throws {
        let empty = try await ProcessRunner.run(binary, ["hash-password"], input: Data("\n".utf8))
        #expect(empty.status == 1)
        #expect(empty.stderr.contains("error: no password on standard input"), "\(empty.stderr)")

        // Standard input redirected from a directory: read(2) fails with EISDIR.
        let directory = try await ProcessRunner.run("sh", ["-c", "exec \"$0\" hash-password < /", binary])
        #expect(directory.status == 1)
        #expect(directory.stderr.contains("error: cannot read the password from standard input: Is a directory"), "\(directory.stderr)")

        let large = try await ProcessRunner.run(binary, ["hash-password"], input: Data(repeating: UInt8(ascii: "x"), count: 100_000))
        #expect(large.status == 1)
        #expect(large.stderr.contains("more than 65536 bytes, longer than any password"), "\(large.stderr)")
    }
}
