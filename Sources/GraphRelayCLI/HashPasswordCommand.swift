import ArgumentParser
import Foundation
import GraphRelay

/// `graph-relay hash-password`: reads a password from standard input, prints its hash for
/// `access.users[].passwordHash`.
struct HashPasswordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash-password",
        abstract: "Read a password from standard input and print a salted scrypt hash for access.users[].passwordHash.",
        discussion: "Example: printf '%s' 'the password' | graph-relay hash-password"
    )

    /// More than any password: a larger input is a mistake (a file redirected by accident).
    static let maximumInput = 64 * 1024

    func run() throws {
        let input: [UInt8]
        do {
            input = try Self.readStandardInput()
        } catch {
            printError("error: cannot read the password from standard input: \(error)")
            throw ExitCode.failure
        }
        guard let password = PasswordHasher.password(fromStandardInput: input) else {
            printError("error: no password on standard input (pipe it in, e.g. printf '%s' \"$PASSWORD\" | graph-relay hash-password)")
            throw ExitCode.failure
        }
        do {
            print(try PasswordHasher.hash(password: password))
        } catch {
            printError("error: cannot hash the password: \(error)")
            throw ExitCode.failure
        }
    }

    /// Standard input up to its end, at most ``maximumInput`` bytes.
    private static func readStandardInput() throws -> [UInt8] {
        var input: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
            if count == 0 { return input }
            if count < 0 {
                if errno == EINTR { continue }
                throw StandardInputError(description: String(cString: strerror(errno)))
            }
            input += chunk[..<count]
            if input.count > maximumInput {
                throw StandardInputError(description: "more than \(maximumInput) bytes, longer than any password")
            }
        }
    }

    private struct StandardInputError: Error, CustomStringConvertible {
        let description: String
    }
}
