import GraphRelayMIME

/// A message's header fields as the spool needs them: the Message-ID, and what the bounce rules
/// read (Auto-Submitted, Content-Type). The section is found by ``HeaderBoundaryScanner`` and split
/// by ``MIMEHeaderField``, as everywhere else.
public struct MessageHeaders: Sendable {
    /// The fields in order, names as written, values unfolded and trimmed.
    public let fields: [(name: String, value: String)]

    /// Parses the header section at the start of `bytes` (all of them when no empty line ends it).
    public init(_ bytes: some Collection<UInt8>) {
        let bytes = Array(bytes)
        let section = Array(bytes.prefix(Self.headerLength(of: bytes)))
        self.fields = MIMEHeaderField.split(section, offset: 0).map { ($0.name, $0.text) }
    }

    /// The first value of the named field (case-insensitive), or nil.
    public func value(of name: String) -> String? {
        let lower = name.lowercased()
        return fields.first { $0.name.lowercased() == lower }?.value
    }

    /// The length of the header section at the start of `bytes` (its fields' lines, without the
    /// empty line that ends it); all of `bytes` when they end inside it.
    package static func headerLength(of bytes: [UInt8]) -> Int {
        switch HeaderBoundaryScanner.outcome(of: bytes, isComplete: true, limit: .max) {
        case .complete(let span): span.headerLength
        case .needMoreData, .tooLong: bytes.count
        }
    }
}

extension String {
    package func trimmingWhitespace() -> String {
        let isSpace: (Unicode.Scalar) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        var scalars = Substring(self).unicodeScalars[...]
        while let first = scalars.first, isSpace(first) { scalars.removeFirst() }
        while let last = scalars.last, isSpace(last) { scalars.removeLast() }
        return String(String.UnicodeScalarView(scalars))
    }
}
