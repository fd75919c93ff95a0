import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a message's MIME structure in one streaming pass: feed the message in chunks of any
/// size, then ``finish()`` gives the ``MIMEStructure``. Memory stays bounded whatever the size:
/// only header sections (up to ``Limits/maxHeaderSectionSize`` each) and the positions of the
/// parts are held; bodies are passed through their transfer decoder to learn their decoded size
/// and whether they decode at all, and dropped.
///
/// Tolerant like a mail reader (line breaks CRLF or LF, blanks after a boundary, a part without
/// an empty line after its headers), and precise about what is wrong: every deviation that could
/// change which bytes belong to which part is recorded in ``MIMEStructure/problems``.
///
/// (Over 400 lines on purpose: one streaming state machine whose private state — the stack of
/// open multiparts, the line being assembled, the decoders of the current part — every step
/// touches; split across files it would have to be visible to the whole module.)
public struct MIMEScanner: Sendable {
    public struct Limits: Sendable, Hashable {
        /// Entities (the message and all parts) read before giving up. Default 10,000.
        public var maxEntities = 10_000
        /// Multipart nesting read before deeper multiparts are taken as leaves. Default 32.
        public var maxDepth = 32
        /// Header section of one entity. Default 256 KiB.
        public var maxHeaderSectionSize = 256 * 1024
        /// A body line starting with `--` and longer than this cannot be a boundary. Default 1000
        /// (RFC 5322 lines are at most 998 octets; boundaries at most 70 characters).
        public var maxDelimiterLineLength = 1000

        public init() {}
    }

    private enum Mode: Sendable {
        /// Reading the header section of this entity.
        case header(Int)
        /// The body of this leaf: its bytes go through ``decoder``.
        case leaf(Int)
        /// A multipart's preamble or epilogue, or everything after the scanner gave up.
        case ignored
    }

    private enum LineState: Sendable {
        case start
        /// A body line known not to be a delimiter: bytes go to the sink as they come.
        case streaming
        /// A header line, or a body line starting with `-`: collected until its end.
        case buffering
    }

    /// An open multipart: its entity, `--boundary`, and its part being read.
    private struct Level: Sendable {
        var entity: Int
        var delimiter: [UInt8]
        var current: Int?
    }

    public let limits: Limits
    private var entities: [MIMEEntity]
    private var headerFields: [MIMEHeaderField] = []
    private var problems: [String] = []
    private var mode: Mode = .header(0)
    private var stack: [Level] = []
    private var decoder: MIMETransferDecoder?
    private var gaveUp = false

    /// Absolute position of the next byte.
    private var offset = 0
    private var lineState = LineState.start
    private var lineStart = 0
    private var line: [UInt8] = []
    /// The previous line's break, not yet given to the body (it belongs to a delimiter that may follow).
    private var pendingBreak = 0
    /// Length of the previous line's break.
    private var previousBreak = 0
    /// A streaming line's last chunk ended with CR: part of the line break if LF follows.
    private var heldCR = false
    private var header: [UInt8] = []

    public init(limits: Limits = Limits()) {
        self.limits = limits
        self.entities = [MIMEEntity(index: 0, parent: nil, depth: 0, start: 0, headerStart: 0)]
    }

    // MARK: Input

    public mutating func scan(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { scan($0) }
    }

    public mutating func scan(_ bytes: UnsafeRawBufferPointer) {
        let count = bytes.count
        var index = 0
        while index < count {
            switch lineState {
            case .start:
                lineStart = offset + index
                switch mode {
                case .header:
                    lineState = .buffering
                case .leaf, .ignored:
                    if !stack.isEmpty && bytes[index] == UInt8(ascii: "-") {
                        lineState = .buffering
                    } else {
                        releasePendingBreak()
                        lineState = .streaming
                    }
                }
                line.removeAll(keepingCapacity: true)
            case .streaming:
                if let newline = Self.findNewline(bytes, from: index) {
                    var contentEnd = newline
                    var breakLength = 1
                    if newline > index && bytes[newline - 1] == UInt8(ascii: "\r") {
                        contentEnd = newline - 1
                        breakLength = 2
                        releaseHeldCR()
                    } else if newline == index && heldCR {
                        heldCR = false
                        breakLength = 2
                    } else {
                        releaseHeldCR()
                    }
                    sink(UnsafeRawBufferPointer(rebasing: bytes[index..<contentEnd]))
                    pendingBreak = breakLength
                    previousBreak = breakLength
                    index = newline + 1
                    lineState = .start
                } else {
                    releaseHeldCR()
                    var end = count
                    if bytes[count - 1] == UInt8(ascii: "\r") {
                        end = count - 1
                        heldCR = true
                    }
                    sink(UnsafeRawBufferPointer(rebasing: bytes[index..<end]))
                    index = count
                }
            case .buffering:
                let newline = Self.findNewline(bytes, from: index)
                let end = newline.map { $0 + 1 } ?? count
                line.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[index..<end]))
                index = end
                if newline != nil {
                    lineState = .start
                    completeLine()
                } else {
                    checkLineLength()
                }
            }
        }
        offset += count
    }

    /// Ends the input and returns the structure.
    public mutating func finish() -> MIMEStructure {
        if case .buffering = lineState, !line.isEmpty {
            completeLine()  // a last line without a line break
        }
        releaseHeldCR()
        releasePendingBreak()  // at the end, the last line break is content
        let end = offset
        if case .header(let entity) = mode {
            // The header section never ended (a message of headers only, or a truncated part).
            endHeader(entity, bodyStart: end)
        }
        while let level = stack.last {
            if !entities[level.entity].children.isEmpty {
                problems.append("\(describe(level.entity)) has no closing boundary (the message may be truncated)")
            }
            if let current = level.current { endEntity(current, at: end, atEndOfInput: true) }
            stack.removeLast()
        }
        if case .leaf(let entity) = mode { endLeaf(entity) }
        mode = .ignored
        for index in entities.indices where entities[index].isMultipart {
            if entities[index].children.isEmpty && !gaveUp {
                problems.append("\(describe(index)) has no parts (no line '--\(entities[index].contentType[parameter: "boundary"] ?? "")')")
            }
        }
        entities[0].range = 0..<end
        entities[0].bodyRange = min(entities[0].bodyRange.lowerBound, end)..<end
        return MIMEStructure(entities: entities, headerFields: headerFields, size: end, problems: problems)
    }

    // MARK: Lines

    /// A buffered line (header line, or body line starting with `-`) is complete.
    private mutating func completeLine() {
        var breakLength = 0
        if line.last == UInt8(ascii: "\n") {
            breakLength = line.count >= 2 && line[line.count - 2] == UInt8(ascii: "\r") ? 2 : 1
        }
        let content = line[0..<(line.count - breakLength)]
        let lineEnd = lineStart + line.count
        switch mode {
        case .header(let entity):
            if content.isEmpty {
                endHeader(entity, bodyStart: lineEnd)
            } else if entity != 0, let (level, closing) = delimiter(content) {
                // No empty line between the headers and the next boundary: an empty body.
                endHeader(entity, bodyStart: lineStart)
                delimiterLine(level: level, closing: closing, lineEnd: lineEnd)
            } else {
                header.append(contentsOf: line)
                if header.count > limits.maxHeaderSectionSize {
                    problems.append("the header section of \(describe(entity)) is longer than \(limits.maxHeaderSectionSize) bytes")
                    header.removeAll()
                    giveUp()
                }
            }
        case .leaf, .ignored:
            if let (level, closing) = delimiter(content) {
                delimiterLine(level: level, closing: closing, lineEnd: lineEnd)
            } else {
                releasePendingBreak()
                content.withUnsafeBytes { sink($0) }
                pendingBreak = breakLength
            }
        }
        previousBreak = breakLength
    }

    /// A buffered body line too long to be a delimiter goes on as content.
    private mutating func checkLineLength() {
        guard case .header = mode else {
            if line.count > limits.maxDelimiterLineLength {
                releasePendingBreak()
                var content = line[...]
                if content.last == UInt8(ascii: "\r") {
                    content = content.dropLast()
                    heldCR = true
                }
                content.withUnsafeBytes { sink($0) }
                lineState = .streaming
            }
            return
        }
        if header.count + line.count > limits.maxHeaderSectionSize, case .header(let entity) = mode {
            problems.append("the header section of \(describe(entity)) is longer than \(limits.maxHeaderSectionSize) bytes")
            header.removeAll()
            line.removeAll()
            giveUp()
            lineState = .streaming
        }
    }

    /// Which open multipart `content` delimits, innermost first, and whether it is the closing
    /// delimiter; nil if it is not a delimiter line.
    private func delimiter(_ content: ArraySlice<UInt8>) -> (level: Int, closing: Bool)? {
        guard !stack.isEmpty, content.count >= 2, content.first == UInt8(ascii: "-") else { return nil }
        var trimmed = content
        while let last = trimmed.last, last.isBlank { trimmed = trimmed.dropLast() }
        for level in stack.indices.reversed() {
            let delimiter = stack[level].delimiter
            guard trimmed.count >= delimiter.count, trimmed.starts(with: delimiter) else { continue }
            let rest = trimmed.dropFirst(delimiter.count)
            if rest.isEmpty { return (level, false) }
            if rest.count == 2 && rest.allSatisfy({ $0 == UInt8(ascii: "-") }) { return (level, true) }
        }
        return nil
    }

    /// A delimiter line of the multipart at `level` (`lineStart`..<`lineEnd`).
    private mutating func delimiterLine(level: Int, closing: Bool, lineEnd: Int) {
        // Multiparts inside it that were not closed end here.
        while stack.count - 1 > level {
            let inner = stack.removeLast()
            problems.append("\(describe(inner.entity)) has no closing boundary")
            if let current = inner.current { endEntity(current, at: lineStart, atEndOfInput: false) }
        }
        if let current = stack[level].current {
            endEntity(current, at: lineStart, atEndOfInput: false)
            stack[level].current = nil
        }
        pendingBreak = 0
        let multipart = stack[level].entity
        if closing {
            entities[multipart].closeDelimiterStart = lineStart
            stack.removeLast()
            mode = .ignored  // the epilogue
            return
        }
        guard entities.count < limits.maxEntities else {
            problems.append("more than \(limits.maxEntities) MIME parts")
            giveUp()
            return
        }
        let child = MIMEEntity(index: entities.count, parent: multipart, depth: entities[multipart].depth + 1,
                               start: lineStart, headerStart: lineEnd)
        entities.append(child)
        entities[multipart].children.append(child.index)
        stack[level].current = child.index
        header.removeAll(keepingCapacity: true)
        mode = .header(child.index)
    }

    // MARK: Entities

    /// The header section of `entity` ended; its body starts at `bodyStart`.
    private mutating func endHeader(_ entity: Int, bodyStart: Int) {
        let fields = MIMEHeaderField.split(header, offset: entities[entity].headerStart)
        header.removeAll(keepingCapacity: true)
        if entity == 0 { headerFields = fields }
        var node = entities[entity]
        if let parent = node.parent, entities[parent].contentType.value == "multipart/digest" {
            node.contentType = MIMEParameterizedValue(value: "message/rfc822")
        }
        for field in fields {
            if field.hasName("Content-Type") {
                let value = MIMEParameterizedValue(parsing: field.value)
                if value.value.contains("/") { node.contentType = value }
            } else if field.hasName("Content-Disposition") {
                node.disposition = MIMEParameterizedValue(parsing: field.value)
            } else if field.hasName("Content-Transfer-Encoding") {
                node.transferEncoding = MIMETransferEncoding(field.text)
            } else if field.hasName("Content-ID") {
                var id = field.text
                if id.hasPrefix("<") && id.hasSuffix(">") && id.count >= 2 { id = String(id.dropFirst().dropLast()) }
                node.contentID = id.isEmpty ? nil : id
            }
        }
        node.bodyRange = bodyStart..<bodyStart
        pendingBreak = 0
        if node.mediaType == "multipart" && node.depth < limits.maxDepth {
            if let boundary = node.contentType[parameter: "boundary"], !boundary.isEmpty, boundary.utf8.count <= 200 {
                node.isMultipart = true
                entities[entity] = node
                stack.append(Level(entity: entity, delimiter: Array("--\(boundary)".utf8), current: nil))
                mode = .ignored  // the preamble
                return
            }
            problems.append("\(describe(entity, node)) has no usable boundary parameter")
        }
        entities[entity] = node
        decoder = MIMETransferDecoder(node.transferEncoding)
        mode = .leaf(entity)
    }

    /// A part ends where the delimiter line at `end` starts (or at the end of the input).
    private mutating func endEntity(_ entity: Int, at end: Int, atEndOfInput: Bool) {
        switch mode {
        case .header(let open) where open == entity:
            endHeader(entity, bodyStart: end)
            if case .leaf = mode { endLeaf(entity) }
        case .leaf(let open) where open == entity:
            endLeaf(entity)
        default:
            break
        }
        mode = .ignored
        let bodyStart = entities[entity].bodyRange.lowerBound
        let bodyEnd = atEndOfInput ? end : max(bodyStart, end - previousBreak)
        entities[entity].bodyRange = bodyStart..<max(bodyStart, bodyEnd)
        entities[entity].range = entities[entity].range.lowerBound..<end
    }

    private mutating func endLeaf(_ entity: Int) {
        guard var decoder else { return }
        var discard: ByteBuffer?
        do {
            try decoder.finish(into: &discard)
        } catch {
            if entities[entity].encodingProblem == nil { entities[entity].encodingProblem = "\(error)" }
        }
        entities[entity].decodedSize = decoder.outputCount
        self.decoder = nil
    }

    /// Stops reading structure: the rest of the input is taken as it comes.
    private mutating func giveUp() {
        gaveUp = true
        if case .leaf(let entity) = mode { endLeaf(entity) }
        if case .header(let entity) = mode { entities[entity].bodyRange = lineStart..<lineStart }
        stack.removeAll()
        mode = .ignored
    }

    // MARK: Body bytes

    private mutating func sink(_ bytes: UnsafeRawBufferPointer) {
        guard case .leaf(let entity) = mode, bytes.count > 0, decoder != nil else { return }
        var none: ByteBuffer?
        do {
            try decoder!.decode(bytes, into: &none)
        } catch {
            // Offsets in the error count from the start of the body.
            entities[entity].encodingProblem = "\(error)"
            decoder = MIMETransferDecoder(.binary)  // keep counting nothing meaningful; the part is marked
        }
    }

    private mutating func releasePendingBreak() {
        switch pendingBreak {
        case 2: Self.crlf.withUnsafeBytes { sink($0) }
        case 1: Self.crlf.dropFirst().withUnsafeBytes { sink($0) }
        default: break
        }
        pendingBreak = 0
    }

    private mutating func releaseHeldCR() {
        guard heldCR else { return }
        heldCR = false
        Self.crlf.prefix(1).withUnsafeBytes { sink($0) }
    }

    private static let crlf: [UInt8] = [13, 10]

    private static func findNewline(_ bytes: UnsafeRawBufferPointer, from index: Int) -> Int? {
        guard index < bytes.count, let base = bytes.baseAddress else { return nil }
        guard let found = memchr(base + index, 0x0A, bytes.count - index) else { return nil }
        return base.distance(to: UnsafeRawPointer(found))
    }

    private func describe(_ index: Int, _ entity: MIMEEntity? = nil) -> String {
        let entity = entity ?? entities[index]
        return index == 0 ? "the message (\(entity.contentType.value))" : "part \(index) (\(entity.contentType.value))"
    }
}
