import Foundation
import NIOHTTP1

/// `Retry-After` (RFC 9110 §10.2.3): delay seconds — Graph sends fractional ones such as `2.128` —
/// or an HTTP-date. Header names are matched case-insensitively.
public enum RetryAfter {
    /// The longest delay accepted; anything above is clamped (a bogus header must not park a
    /// message for days).
    public static let maximum: Duration = .seconds(24 * 3600)

    /// The delay the response asks for, or nil when it has no usable `Retry-After`.
    public static func delay(in headers: HTTPHeaders, now: Date = Date()) -> Duration? {
        // HTTPHeaders lookups are case-insensitive.
        guard let value = headers.first(name: "retry-after") else { return nil }
        return parse(value, now: now)
    }

    /// Parses one header value: a non-negative decimal number of seconds, or an HTTP-date (IMF-fixdate,
    /// RFC 850 or asctime form). A date in the past yields zero.
    public static func parse(_ value: String, now: Date = Date()) -> Duration? {
        let text = value.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty else { return nil }
        if text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }) {
            guard text.filter({ $0 == "." }).count <= 1, text.first != ".", let seconds = Double(text), seconds.isFinite else {
                return nil
            }
            return clamp(seconds)
        }
        guard let date = httpDate(text) else { return nil }
        return clamp(max(0, date.timeIntervalSince(now)))
    }

    private static func clamp(_ seconds: Double) -> Duration {
        let maximumSeconds = Double(maximum.components.seconds)
        let bounded = min(max(seconds, 0), maximumSeconds)
        let milliseconds = (bounded * 1000).rounded()
        return .milliseconds(Int64(milliseconds))
    }

    private static let formats = [
        "EEE, dd MMM yyyy HH:mm:ss zzz",   // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
        "EEEE, dd-MMM-yy HH:mm:ss zzz",    // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
        "EEE MMM d HH:mm:ss yyyy",         // asctime: Sun Nov  6 08:49:37 1994
    ]

    static func httpDate(_ text: String) -> Date? {
        let collapsed = text.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        for format in formats {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = format
            if let date = formatter.date(from: collapsed) { return date }
        }
        return nil
    }
}
