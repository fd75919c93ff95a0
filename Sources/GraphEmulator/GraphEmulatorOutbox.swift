import Foundation

/// Writes accepted messages to `<outbox>/<mailbox>/<time>-<id>.eml` (written to a temporary name
/// and renamed, so a watcher never sees half a file).
struct GraphEmulatorOutbox: Sendable {
    let directory: String

    func write(_ mime: [UInt8], mailbox: String, requestID: String, at date: Date) throws -> String {
        let safeMailbox = String(mailbox.lowercased().map { character -> Character in
            character.isLetter || character.isNumber || "@.-_+".contains(character) ? character : "_"
        })
        let folder = (directory as NSString).appendingPathComponent(safeMailbox)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss.SSS'Z'"
        let name = "\(formatter.string(from: date))-\(requestID.prefix(8)).eml"
        let path = (folder as NSString).appendingPathComponent(name)
        let temporary = (folder as NSString).appendingPathComponent(".\(name).tmp")
        try Data(mime).write(to: URL(fileURLWithPath: temporary))
        try FileManager.default.moveItem(atPath: temporary, toPath: path)
        return path
    }
}
