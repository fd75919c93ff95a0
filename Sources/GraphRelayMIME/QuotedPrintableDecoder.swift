import NIOCore

/// Quoted-printable (RFC 2045 §6.7) decoded incrementally: `=XX` becomes the byte, `=` at the
/// end of a line is a soft line break (removed with the line break), blanks at the end of a line
/// are removed, other bytes and hard line breaks pass through. As the RFC recommends, a `=` not
/// followed by two hex digits or a line break is kept as it is. Chunks may split anywhere; the
/// output equals decoding the concatenated input at once. Never fails.
public struct QuotedPrintableDecoder: Sendable {
    private enum State: Sendable {
        case text
        /// After `=`.
        case equals
        /// After `=` and one hex digit (the byte given).
        case equalsHex(UInt8)
        /// After `=` and blanks: a soft line break if a line break follows.
        case equalsBlanks
        /// After `=` and CR: a soft line break (CRLF) if LF follows.
        case equalsCR
    }

    private var state = State.text
    /// Blanks seen and not yet written: dropped if the line ends, written otherwise.
    private var blanks: [UInt8] = []
    /// Blanks after `=` (written with the `=` if no line break follows).
    private var equalsBlanks: [UInt8] = []
    /// Decoded bytes produced (or counted) so far.
    public private(set) var outputCount = 0

    public init() {}

    /// Decodes `input`, appending to `output` (counting only, when nil).
    public mutating func decode(_ input: UnsafeRawBufferPointer, into output: inout ByteBuffer?) {
        guard input.count > 0 else { return }
        output?.reserveCapacity(minimumWritableBytes: input.count + blanks.count + equalsBlanks.count + 3)
        var index = 0
        while index < input.count {
            let byte = input[index]
            index += 1
            switch state {
            case .text:
                switch byte {
                case UInt8(ascii: " "), UInt8(ascii: "\t"):
                    blanks.append(byte)
                    if blanks.count > 4096 { flushBlanks(&output) }  // not trailing in any sane text
                case UInt8(ascii: "="):
                    flushBlanks(&output)
                    state = .equals
                case UInt8(ascii: "\r"), UInt8(ascii: "\n"):
                    blanks.removeAll(keepingCapacity: true)  // trailing blanks are not content
                    emit(byte, &output)
                default:
                    flushBlanks(&output)
                    // A run of plain bytes is copied at once.
                    var end = index
                    while end < input.count, Self.isPlain(input[end]) { end += 1 }
                    if end > index {
                        output?.writeInteger(byte)
                        output?.writeBytes(UnsafeRawBufferPointer(rebasing: input[index..<end]))
                        outputCount += 1 + end - index
                        index = end
                    } else {
                        emit(byte, &output)
                    }
                }
            case .equals:
                if let value = byte.asciiHexValue {
                    state = .equalsHex(value)
                } else if byte == UInt8(ascii: "\n") {
                    state = .text  // soft line break (bare LF)
                } else if byte == UInt8(ascii: "\r") {
                    state = .equalsCR
                } else if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") {
                    equalsBlanks = [byte]
                    state = .equalsBlanks
                } else {
                    emit(UInt8(ascii: "="), &output)
                    state = .text
                    index -= 1  // the byte is read again as text
                }
            case .equalsHex(let high):
                if let low = byte.asciiHexValue {
                    emit(high << 4 | low, &output)
                    state = .text
                } else {
                    emit(UInt8(ascii: "="), &output)
                    emit(Self.hexDigits[Int(high)], &output)
                    state = .text
                    index -= 1
                }
            case .equalsBlanks:
                if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") {
                    equalsBlanks.append(byte)
                } else if byte == UInt8(ascii: "\n") {
                    equalsBlanks.removeAll(keepingCapacity: true)
                    state = .text
                } else if byte == UInt8(ascii: "\r") {
                    equalsBlanks.removeAll(keepingCapacity: true)
                    state = .equalsCR
                } else {
                    emit(UInt8(ascii: "="), &output)
                    blanks = equalsBlanks
                    equalsBlanks.removeAll(keepingCapacity: true)
                    state = .text
                    index -= 1
                }
            case .equalsCR:
                state = .text
                if byte != UInt8(ascii: "\n") {
                    // `=` CR without LF: not a soft line break; both are kept.
                    emit(UInt8(ascii: "="), &output)
                    emit(UInt8(ascii: "\r"), &output)
                    index -= 1
                }
            }
        }
    }

    /// Ends the input: a dangling `=` (or `=X`) is kept as it was; trailing blanks are dropped.
    public mutating func finish(into output: inout ByteBuffer?) {
        switch state {
        case .equals, .equalsBlanks:
            emit(UInt8(ascii: "="), &output)
        case .equalsHex(let high):
            emit(UInt8(ascii: "="), &output)
            emit(Self.hexDigits[Int(high)], &output)
        case .equalsCR, .text:
            break
        }
        state = .text
        blanks.removeAll()
        equalsBlanks.removeAll()
    }

    private mutating func emit(_ byte: UInt8, _ output: inout ByteBuffer?) {
        output?.writeInteger(byte)
        outputCount += 1
    }

    private mutating func flushBlanks(_ output: inout ByteBuffer?) {
        guard !blanks.isEmpty else { return }
        output?.writeBytes(blanks)
        outputCount += blanks.count
        blanks.removeAll(keepingCapacity: true)
    }

    @inline(__always)
    private static func isPlain(_ byte: UInt8) -> Bool {
        byte != UInt8(ascii: "=") && byte != UInt8(ascii: " ") && byte != UInt8(ascii: "\t")
            && byte != UInt8(ascii: "\r") && byte != UInt8(ascii: "\n")
    }

    private static let hexDigits = Array("0123456789ABCDEF".utf8)

}
