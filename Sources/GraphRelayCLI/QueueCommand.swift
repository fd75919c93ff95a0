import ArgumentParser
import Foundation
import GraphRelay
import GraphRelayMIME
import GraphRelaySpool

/// `graph-relay queue …`: inspect and act on the spool, safely beside a running server.
struct QueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Inspect and manage the spool (safe while the server runs).",
        subcommands: [List.self, Show.self, Retry.self, Delete.self]
    )

    /// Opens the configured spool in tool mode.
    static func openSpool(_ options: ConfigOption) throws -> Spool {
        let configuration = try options.loadConfiguration()
        let directory = configuration.spool.directory
        guard FileManager.default.fileExists(atPath: directory + "/queue") else {
            printError("error: no spool at \(directory) (spool.directory in \(options.config)); has the server run yet?")
            throw ExitCode.failure
        }
        do {
            return try Spool(directory: directory, mode: .tool)
        } catch {
            printError("error: cannot open the spool \(directory): \(error)")
            throw ExitCode.failure
        }
    }

    /// Opens the spool, runs `body`, closes the spool; any error is printed and exits 1.
    static func withSpool(_ options: ConfigOption, _ body: (Spool) async throws -> Void) async throws {
        let spool = try openSpool(options)
        do {
            try await body(spool)
        } catch let exit as ExitCode {
            await spool.close()
            throw exit
        } catch {
            await spool.close()
            printError("error: \(error)")
            throw ExitCode.failure
        }
        await spool.close()
    }

    static func queueID(_ text: String) throws -> QueueID {
        do {
            return try QueueID.parse(text)
        } catch {
            printError("error: '\(text)' is not a queue id (18 characters, e.g. 01K11RQN0ESSKGFM3D)")
            throw ExitCode.failure
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List queued (or failed) messages.")
        @OptionGroup var options: ConfigOption
        @Flag(help: "List the failed area instead of the queue.") var failed = false
        @Flag(help: "Print a JSON array of the messages (for scripts) instead of a table.") var json = false

        func run() async throws {
            try await QueueCommand.withSpool(options) { spool in
                let records = try await spool.list(failed ? .failed : .queue)
                if json {
                    print(try QueueMessageJSON.text(records.map { QueueMessageJSON($0) }))
                    return
                }
                let now = Date()
                print(Table.render([SpoolRecord.listHeader] + records.map { $0.listColumns(now: now) }))
                print("\(records.count) message(s) \(failed ? "failed" : "queued")")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one message's envelope, route, attempts and headers.")
        @OptionGroup var options: ConfigOption
        @Argument(help: "Queue id.") var id: String
        @Flag(help: "Print one JSON object (for scripts), with the header fields.") var json = false

        func run() async throws {
            let queueID = try QueueCommand.queueID(id)
            try await QueueCommand.withSpool(options) { spool in
                let message = try await spool.message(queueID)
                if json {
                    let headers = MessageHeaders(Array(try await message.readHeaderBlock().readableBytesView))
                    print(try QueueMessageJSON.text(QueueMessageJSON(message.record, headers: headers)))
                    return
                }
                for line in message.record.showLines() { print(line) }
                print("")
                // The header fields as the device sent them, one escaped line each (a field's
                // folded lines stay lines; control characters never reach the terminal).
                let header = String(buffer: try await message.readHeaderBlock())
                for line in header.split(separator: "\r\n", omittingEmptySubsequences: false) {
                    print(UntrustedText.escaped(String(line)))
                }
            }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Retry a message (or all) now; also takes a message back from the failed area.")
        @OptionGroup var options: ConfigOption
        @Argument(help: "Queue id.") var id: String?
        @Flag(help: "Retry every queued message now.") var all = false

        func validate() throws {
            guard (id != nil) != all else { throw ValidationError("give a queue id or --all") }
        }

        func run() async throws {
            let queueID = try id.map(QueueCommand.queueID)
            try await QueueCommand.withSpool(options) { spool in
                if let queueID {
                    let record = try await spool.retry(queueID, now: Date())
                    print("\(record.id) scheduled for immediate retry")
                } else {
                    let count = try await spool.retryAll(now: Date())
                    print("\(count) message(s) scheduled for immediate retry")
                }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a message from the queue or the failed area (it will not be delivered).")
        @OptionGroup var options: ConfigOption
        @Argument(help: "Queue id.") var id: String

        func run() async throws {
            let queueID = try QueueCommand.queueID(id)
            try await QueueCommand.withSpool(options) { spool in
                try await spool.delete(queueID)
                print("\(queueID) deleted")
            }
        }
    }
}

/// Plain-text columns for terminals.
enum Table {
    static func render(_ rows: [[String]]) -> String {
        guard let columns = rows.map(\.count).max() else { return "" }
        var widths = [Int](repeating: 0, count: columns)
        for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
