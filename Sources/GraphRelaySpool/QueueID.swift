import Foundation
import NIOConcurrencyHelpers


/// The identifier of a spooled message: 18 characters of Crockford base32, time-sortable.
///
/// The first 12 characters encode the microseconds since the Unix epoch at which the id was made
/// (strictly increasing within one process, even when the clock stands still or steps back), the
/// last 6 are random (so ids made by different processes do not collide). Sorting ids as strings
/// sorts them by creation time. The alphabet is `0-9A-Z` without `I L O U`, so an id is always a
/// safe file name; ``init(_:)`` rejects anything else (queue tooling passes ids typed by people).
public struct QueueID: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public let rawValue: String

    static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)
    static let length = 18

    /// Parses and validates an id (case-insensitive). Returns nil for anything that is not an id.
    public init?(_ string: String) {
        let upper = string.uppercased()
        guard upper.utf8.count == Self.length, upper.utf8.allSatisfy({ Self.alphabet.contains($0) }) else {
            return nil
        }
        self.rawValue = upper
    }

    /// Parses an id typed by a person; throws ``SpoolError/invalidQueueID(_:)`` naming it.
    public static func parse(_ string: String) throws -> QueueID {
        guard let id = QueueID(string.trimmingCharacters(in: .whitespaces)) else { throw SpoolError.invalidQueueID(string) }
        return id
    }

    private init(unchecked: String) {
        self.rawValue = unchecked
    }

    public var description: String { rawValue }

    public static func < (lhs: QueueID, rhs: QueueID) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The creation time encoded in the id.
    public var timestamp: Date {
        var micros: UInt64 = 0
        for byte in rawValue.utf8.prefix(12) {
            micros = micros << 5 | UInt64(Self.alphabet.firstIndex(of: byte) ?? 0)
        }
        return Date(timeIntervalSince1970: Double(micros) / 1_000_000)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let string = try container.decode(String.self)
        guard let id = QueueID(string) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(string)' is not a queue id")
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    private static let lastMicros = NIOLockedValueBox<UInt64>(0)

    /// A new id, later than every id this process made before.
    public static func make(now: Date = Date()) -> QueueID {
        let wall = UInt64(max(0, now.timeIntervalSince1970 * 1_000_000))
        let micros = lastMicros.withLockedValue { last -> UInt64 in
            last = max(last + 1, wall)
            return last
        }
        var bytes = [UInt8](repeating: 0, count: length)
        var value = micros
        for index in stride(from: 11, through: 0, by: -1) {
            bytes[index] = alphabet[Int(value & 31)]
            value >>= 5
        }
        var random = UInt32.random(in: 0..<(1 << 30))
        for index in stride(from: 17, through: 12, by: -1) {
            bytes[index] = alphabet[Int(random & 31)]
            random >>= 5
        }
        return QueueID(unchecked: String(decoding: bytes, as: UTF8.self))
    }
}
