/// Random identifiers for sessions and transactions.
enum SMTPIdentifier {
    /// `count` random upper-case hex digits (at most 16).
    static func random(hexDigits count: Int = 12) -> String {
        var generator = SystemRandomNumberGenerator()
        let value = generator.next() as UInt64
        let text = String(value, radix: 16, uppercase: true)
        let padded = String(repeating: "0", count: max(0, 16 - text.count)) + text
        return String(padded.suffix(min(count, 16)))
    }
}
