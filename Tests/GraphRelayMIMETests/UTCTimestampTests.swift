import Foundation
import GraphRelayMIME
import Testing

@Suite("UTC timestamps")
struct UTCTimestampTests {
    @Test("RFC 3339 with milliseconds, UTC, rounded to the millisecond", arguments: [
        (0.0, "1970-01-01T00:00:00.000Z"),
        (1_796_536_805.123, "2026-12-06T06:00:05.123Z"),
        (1_796_536_805.9996, "2026-12-06T06:00:06.000Z"),
        (951_782_400.5, "2000-02-29T00:00:00.500Z"),
        (253_402_300_799.999, "9999-12-31T23:59:59.999Z"),
        (-0.001, "1969-12-31T23:59:59.999Z"),
    ])
    func format(seconds: Double, expected: String) {
        #expect(UTCTimestamp.string(Date(timeIntervalSince1970: seconds)) == expected)
    }

    @Test("Foundation's ISO 8601 parser reads back the same time")
    func matchesFoundation() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let millis = Int64.random(in: 0...4_102_444_800_000, using: &generator)
            let date = Date(timeIntervalSince1970: Double(millis) / 1000)
            let text = UTCTimestamp.string(date)
            let parsed = formatter.date(from: text)
            #expect(parsed.map { abs($0.timeIntervalSince(date)) < 0.0005 } == true, "\(millis) \(text)")
        }
    }
}
