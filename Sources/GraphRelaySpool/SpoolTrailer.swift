import Foundation
import NIOCore

/// The message's initial metadata stored after its bytes in the same file (format version 2),
/// so that one `fdatasync` makes the message and its envelope durable together.
///
/// A file of format 2 is `<message bytes><metadata JSON><footer>`, the footer being the 33
/// bytes `graph-relay-record v2 NNNNNNNNNN\n` with the JSON's length. No `<id>.json` is written
/// at commit: the trailer is the metadata until the first update writes the sidecar, which then
/// takes precedence. Format 1 files hold the message bytes only, with a synced sidecar; both are
/// read.
enum SpoolTrailer {
    static let version = 2
    static let magic = Array("graph-relay-record v2 ".utf8)
    static let digits = 10
    static let footerLength = magic.count + digits + 1
    /// Larger metadata than this is not metadata.
    static let maximumLength = 1 << 20

    /// The footer that follows `jsonLength` bytes of metadata JSON.
    static func footer(jsonLength: Int) -> [UInt8] {
        let length = String(jsonLength)
        return magic + Array((String(repeating: "0", count: max(0, digits - length.count)) + length).utf8) + [UInt8(ascii: "\n")]
    }

    /// The record in the trailer of the file at `path` (whose size is `fileSize`), checked
    /// against the file: its id is `id` and the message bytes before it are `record.size`. Nil
    /// when the file has no trailer (format 1, or cut short); throws on I/O errors.
    static func read(_ path: String, id: QueueID, fileSize: Int64) throws(SpoolError) -> SpoolRecord? {
        guard fileSize >= Int64(footerLength) else { return nil }
        let fd = try Posix.open(path, O_RDONLY)
        defer { Posix.close(fd) }
        let footer = try readFully(fd, footerLength, at: fileSize - Int64(footerLength), path: path)
        guard footer.count == footerLength, Array(footer.prefix(magic.count)) == magic, footer.last == UInt8(ascii: "\n"),
              let length = Int(String(decoding: footer[magic.count..<(magic.count + digits)], as: UTF8.self)),
              length > 0, length <= maximumLength, Int64(length + footerLength) <= fileSize else { return nil }
        let jsonStart = fileSize - Int64(footerLength + length)
        let json = try readFully(fd, length, at: jsonStart, path: path)
        guard json.count == length, let record = try? SpoolJSON.decode(json, path: path),
              record.id == id, record.version >= version, record.size == jsonStart else { return nil }
        return record
    }

    /// Whether the end of the file at `path` holds the footer's mark without a readable trailer
    /// (a format-2 message damaged, not a format-1 file without its metadata).
    static func hasDamagedFooter(_ path: String) throws(SpoolError) -> Bool {
        guard let size = try Posix.fileSize(path), size > 0 else { return false }
        let fd = try Posix.open(path, O_RDONLY)
        defer { Posix.close(fd) }
        let window = Int(min(size, Int64(footerLength + 16)))
        let tail = try readFully(fd, window, at: size - Int64(window), path: path)
        return tail.count >= magic.count && (0...(tail.count - magic.count)).contains { Array(tail[$0..<($0 + magic.count)]) == magic }
    }

    /// `count` bytes at `offset` (fewer at the end of the file).
    private static func readFully(_ fd: Int32, _ count: Int, at offset: Int64, path: String) throws(SpoolError) -> [UInt8] {
        var buffer = ByteBuffer()
        while buffer.readableBytes < count {
            let got = try Posix.pread(fd, into: &buffer, count: count - buffer.readableBytes,
                                      offset: Int(offset) + buffer.readableBytes, path: path)
            if got == 0 { break }
        }
        return Array(buffer.readableBytesView)
    }
}
