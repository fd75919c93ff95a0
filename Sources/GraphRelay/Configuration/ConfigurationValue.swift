/// Parsers for the value syntaxes the configuration file uses.
public enum ConfigurationValue {
    /// Parses a size: a number of bytes (`3000000`), or a number with a unit. `KB`, `MB`, `GB`
    /// are decimal (1000-based, like Microsoft's published limits); `KiB`, `MiB`, `GiB` are
    /// binary; `B` is bytes. Case-insensitive, blanks allowed before the unit, decimals allowed
    /// (`2.5MB`). Returns `nil` for anything else (including bare `K`/`M`/`G`, which are
    /// ambiguous).
    public static func byteSize(_ text: String) -> Int? {
        let trimmed = text.trimmingASCIIWhitespace()
        guard let (number, unit) = splitNumber(trimmed) else { return nil }
        let multiplier: Double
        switch unit.lowercased() {
        case "", "b": multiplier = 1
        case "kb": multiplier = 1_000
        case "mb": multiplier = 1_000_000
        case "gb": multiplier = 1_000_000_000
        case "kib": multiplier = 1_024
        case "mib": multiplier = 1_048_576
        case "gib": multiplier = 1_073_741_824
        default: return nil
        }
        let value = number * multiplier
        guard value.isFinite, value >= 0, value < 1e15 else { return nil }
        return Int(value.rounded(.down))
    }

    /// Parses a duration: one or more number-unit pairs, `ms`, `s`, `m`, `h`, `d`
    /// (`30s`, `5m`, `1h30m`, `5d`, `0.5s`). `0` alone is zero. A unit is required otherwise, so
    /// `lifetime: 5` (days? seconds?) is refused.
    public static func duration(_ text: String) -> Duration? {
        let trimmed = text.trimmingASCIIWhitespace().lowercased()
        if trimmed == "0" { return .zero }
        var rest = Substring(trimmed)
        var total = Duration.zero
        var sawPart = false
        while !rest.isEmpty {
            rest = rest.drop(while: { $0 == " " })
            let numberEnd = rest.firstIndex(where: { !($0.isASCIIDigit || $0 == ".") }) ?? rest.endIndex
            guard numberEnd > rest.startIndex, let number = Double(rest[..<numberEnd]) else { return nil }
            rest = rest[numberEnd...].drop(while: { $0 == " " })
            let unitEnd = rest.firstIndex(where: { !$0.isLetter }) ?? rest.endIndex
            let unit = rest[..<unitEnd]
            rest = rest[unitEnd...]
            let seconds: Double
            switch unit {
            case "ms": seconds = number / 1000
            case "s", "sec", "secs", "second", "seconds": seconds = number
            case "m", "min", "mins", "minute", "minutes": seconds = number * 60
            case "h", "hour", "hours": seconds = number * 3600
            case "d", "day", "days": seconds = number * 86_400
            default: return nil
            }
            guard seconds.isFinite, seconds < 1e10 else { return nil }
            total += .milliseconds(Int64((seconds * 1000).rounded()))
            sawPart = true
        }
        return sawPart ? total : nil
    }

    /// A human form of a duration (`5m`, `1h30m`, `1.5s`), for messages and documentation.
    public static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        if attoseconds != 0 || seconds == 0 {
            let value = Double(seconds) + Double(attoseconds) / 1e18
            if value < 1 { return "\(Int((value * 1000).rounded()))ms" }
            return "\(value)s"
        }
        var remaining = seconds
        var parts = ""
        for (unit, size) in [("d", Int64(86_400)), ("h", 3600), ("m", 60), ("s", 1)] where remaining >= size {
            parts += "\(remaining / size)\(unit)"
            remaining %= size
        }
        return parts
    }

    private static func splitNumber(_ text: String) -> (Double, String)? {
        let numberEnd = text.firstIndex(where: { !($0.isASCIIDigit || $0 == ".") }) ?? text.endIndex
        guard numberEnd > text.startIndex, let number = Double(text[..<numberEnd]) else { return nil }
        let unit = text[numberEnd...].drop(while: { $0 == " " })
        return (number, String(unit))
    }
}
