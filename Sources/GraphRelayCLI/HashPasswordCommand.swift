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

    func run() throws {
        let input = FileHandle.standardInput.readDataToEndOfFile()
        guard let password = PasswordHasher.password(fromStandardInput: Array(input)) else {
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
}
