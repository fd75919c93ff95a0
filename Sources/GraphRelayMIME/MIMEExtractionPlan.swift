/// Which parts to take out of a message so that the rest fits a size budget, and the bytes of
/// that rest: the device's own bytes with the parts' ranges cut out, nothing else changed.
///
/// Attachments go first, largest first, then other large leaves (inline images, text bodies),
/// until the remainder fits. Cutting a body part out with its delimiter line leaves a
/// well-formed multipart; a multipart whose every part was taken out gets an empty
/// `text/plain` part (RFC 2046 requires at least one). A message that is one single large part
/// keeps its header fields but its `Content-*` ones, and gets an empty `text/plain` body.
public struct MIMEExtractionPlan: Sendable, Hashable {
    /// A piece of the remainder: a range of the original message, or bytes the plan inserts.
    public enum Segment: Sendable, Hashable {
        case original(Range<Int>)
        case inserted([UInt8])

        public var count: Int {
            switch self {
            case .original(let range): range.count
            case .inserted(let bytes): bytes.count
            }
        }
    }

    /// Why no plan fits.
    public enum Failure: Error, Sendable, Hashable, CustomStringConvertible {
        /// The structure is malformed, so which bytes form a part is not certain.
        case malformed([String])
        /// A part that would have to be taken out cannot be decoded.
        case undecodable(part: Int, reason: String)
        /// Even with every leaf taken out the rest is larger than the budget.
        case cannotFit(remainder: Int, budget: Int)

        public var description: String {
            switch self {
            case .malformed(let problems): "malformed MIME: " + problems.joined(separator: "; ")
            case .undecodable(let part, let reason): "MIME part \(part) cannot be decoded: \(reason)"
            case .cannotFit(let remainder, let budget):
                "the message's headers and structure alone take \(remainder) bytes, more than the \(budget) one request can carry"
            }
        }
    }

    /// The remainder, in order.
    public var remainder: [Segment]
    /// Its size in bytes.
    public var remainderSize: Int { remainder.reduce(0) { $0 + $1.count } }
    /// The entities taken out, in document order.
    public var extracted: [Int]

    /// The inserted `Content-Type` of an emptied multipart's placeholder part or of an emptied
    /// single-part message.
    static let emptyTextType = Array("Content-Type: text/plain; charset=us-ascii\r\n".utf8)

    /// A plan whose remainder is at most `budget` bytes (the whole message when it fits).
    public static func make(_ structure: MIMEStructure, budget: Int) throws(Failure) -> MIMEExtractionPlan {
        if structure.size <= budget {
            return MIMEExtractionPlan(remainder: [.original(0..<structure.size)], extracted: [])
        }
        guard structure.isWellFormed else { throw .malformed(structure.problems) }
        let root = structure.root
        if root.isLeaf {
            try checkDecodable(root)
            let plan = MIMEExtractionPlan(remainder: singlePartRemainder(structure), extracted: [0])
            guard plan.remainderSize <= budget else { throw .cannotFit(remainder: plan.remainderSize, budget: budget) }
            return plan
        }
        let candidates = structure.leaves.filter { $0.index != 0 }.sorted { lhs, rhs in
            if lhs.isAttachment != rhs.isAttachment { return lhs.isAttachment }
            if lhs.size != rhs.size { return lhs.size > rhs.size }
            return lhs.index < rhs.index
        }
        var removed = Set<Int>()
        var plan = MIMEExtractionPlan(remainder: [.original(0..<structure.size)], extracted: [])
        for candidate in candidates where plan.remainderSize > budget {
            try checkDecodable(candidate)
            removed.insert(candidate.index)
            plan = MIMEExtractionPlan(remainder: remainder(structure, removing: removed), extracted: removed.sorted())
        }
        guard plan.remainderSize <= budget else { throw .cannotFit(remainder: plan.remainderSize, budget: budget) }
        return plan
    }

    private static func checkDecodable(_ entity: MIMEEntity) throws(Failure) {
        if let problem = entity.encodingProblem { throw .undecodable(part: entity.index, reason: problem) }
        if entity.decodedSize == nil { throw .undecodable(part: entity.index, reason: "its size is unknown") }
    }

    /// The message without the `removed` leaves, placeholders added to emptied multiparts.
    static func remainder(_ structure: MIMEStructure, removing removed: Set<Int>) -> [Segment] {
        var cuts: [(range: Range<Int>, insert: [UInt8])] = removed.sorted().map { (structure.entities[$0].range, []) }
        for entity in structure.entities where entity.isMultipart && !entity.children.isEmpty {
            guard entity.children.allSatisfy(removed.contains), let close = entity.closeDelimiterStart,
                let boundary = entity.contentType[parameter: "boundary"]
            else { continue }
            cuts.append((close..<close, Array("--\(boundary)\r\n".utf8) + emptyTextType + [13, 10, 13, 10]))
        }
        cuts.sort { ($0.range.lowerBound, $0.range.upperBound) < ($1.range.lowerBound, $1.range.upperBound) }
        var segments: [Segment] = []
        var position = 0
        for cut in cuts {
            if cut.range.lowerBound > position { segments.append(.original(position..<cut.range.lowerBound)) }
            if !cut.insert.isEmpty { segments.append(.inserted(cut.insert)) }
            position = max(position, cut.range.upperBound)
        }
        if position < structure.size { segments.append(.original(position..<structure.size)) }
        return segments
    }

    /// A single-part message without its content: every header field but the `Content-*` ones
    /// that describe the body, an empty `text/plain` body.
    static func singlePartRemainder(_ structure: MIMEStructure) -> [Segment] {
        var segments: [Segment] = []
        for field in structure.headerFields
        where !(field.hasName("Content-Type") || field.hasName("Content-Transfer-Encoding") || field.hasName("Content-Disposition")) {
            if case .original(let last)? = segments.last, last.upperBound == field.range.lowerBound {
                segments[segments.count - 1] = .original(last.lowerBound..<field.range.upperBound)
            } else {
                segments.append(.original(field.range))
            }
        }
        segments.append(.inserted(emptyTextType + [13, 10]))
        return segments
    }
}
