import NIOCore

/// Base64 (RFC 4648 §4, standard alphabet) decoded incrementally, as MIME bodies carry it
/// (RFC 2045 §6.8): line breaks and blanks anywhere are skipped, `=` padding ends the data, and
/// anything else outside the alphabet is an error naming its position. Feed chunks of any size;
/// the output equals decoding the concatenated input at once.
///
/// ``count(_:)`` only counts (``outputCount``) and validates: what the MIME scanner uses to learn
/// a part's decoded size without holding it.
public struct Base64StreamDecoder: Sendable {
    /// Why the input is not base64.
    public enum Failure: Error, Sendable, Hashable, CustomStringConvertible {
        /// A byte outside the alphabet (and not a line break or blank) at this input offset.
        case invalidCharacter(offset: Int, byte: UInt8)
        /// Data after the `=` padding, at this input offset.
        case dataAfterPadding(offset: Int)
        /// The input ended with a single character of a group (6 bits cannot make a byte).
        case truncated

        public var description: String {
            switch self {
            case .invalidCharacter(let offset, let byte):
                "invalid base64: byte 0x\(String(byte, radix: 16, uppercase: true)) at offset \(offset)"
            case .dataAfterPadding(let offset): "invalid base64: data after the '=' padding at offset \(offset)"
            case .truncated: "invalid base64: the data ends in the middle of a group"
            }
        }
    }

    /// Sextet values of each byte; `skip` marks CR, LF, space and tab, `pad` `=`, `invalid` the rest.
    private static let skip: UInt8 = 0xFE
    private static let pad: UInt8 = 0xFD
    private static let invalid = Base64.invalidValue
    private static let table: [UInt8] = {
        var table = Base64.values(of: .standard)
        for byte in [UInt8(ascii: "\r"), UInt8(ascii: "\n"), UInt8(ascii: " "), UInt8(ascii: "\t")] { table[Int(byte)] = skip }
        table[Int(UInt8(ascii: "="))] = pad
        return table
    }()

    private var accumulator: UInt32 = 0
    private var sextets = 0
    private var padded = false
    /// Input bytes consumed so far.
    public private(set) var inputCount = 0
    /// Decoded bytes produced (or counted) so far.
    public private(set) var outputCount = 0

    public init() {}

    /// Decodes `input`, appending the bytes to `output`.
    public mutating func decode(_ input: ByteBuffer, into output: inout ByteBuffer) throws(Failure) {
        var failure: Failure?
        input.withUnsafeReadableBytes { bytes in
            do { try decode(bytes, into: &output) } catch { failure = error as? Base64StreamDecoder.Failure }
        }
        if let failure { throw failure }
    }

    /// Decodes `bytes`, appending to `output`.
    public mutating func decode(_ bytes: UnsafeRawBufferPointer, into output: inout ByteBuffer) throws(Failure) {
        guard bytes.count > 0 else { return }
        var failure: Failure?
        output.writeWithUnsafeMutableBytes(minimumWritableBytes: bytes.count / 4 * 3 + 3) { out in
            let (written, error) = self.run(bytes, out.baseAddress!.assumingMemoryBound(to: UInt8.self))
            failure = error
            return written
        }
        if let failure { throw failure }
    }

    /// Validates and counts `bytes` without producing output.
    public mutating func count(_ bytes: UnsafeRawBufferPointer) throws(Failure) {
        guard bytes.count > 0 else { return }
        if let failure = run(bytes, nil).1 { throw failure }
    }

    /// Ends the input. A final group of 2 or 3 characters without padding is accepted (some
    /// generators omit it) and its 1 or 2 bytes are appended to `output` (counted only, when nil);
    /// a lone final character is ``Failure/truncated``.
    public mutating func finish(into output: inout ByteBuffer?) throws(Failure) {
        defer {
            sextets = 0
            accumulator = 0
        }
        switch sextets {
        case 0:
            return
        case 1:
            throw .truncated
        case 2:
            output?.writeInteger(UInt8(truncatingIfNeeded: accumulator >> 4))
            outputCount += 1
        default:
            output?.writeInteger(UInt8(truncatingIfNeeded: accumulator >> 10))
            output?.writeInteger(UInt8(truncatingIfNeeded: accumulator >> 2))
            outputCount += 2
        }
    }

    /// Decodes into `out` (or counts when nil); returns the bytes written and the failure, if any.
    private mutating func run(_ bytes: UnsafeRawBufferPointer, _ out: UnsafeMutablePointer<UInt8>?) -> (Int, Failure?) {
        var written = 0
        var accumulator = self.accumulator
        var sextets = self.sextets
        var padded = self.padded
        var failure: Failure?
        let base = inputCount
        Self.table.withUnsafeBufferPointer { table in
            for index in 0..<bytes.count {
                let byte = bytes[index]
                let value = table[Int(byte)]
                if value < 64 {
                    if padded {
                        failure = .dataAfterPadding(offset: base + index)
                        return
                    }
                    accumulator = accumulator << 6 | UInt32(value)
                    sextets += 1
                    if sextets == 4 {
                        if let out {
                            out[written] = UInt8(truncatingIfNeeded: accumulator >> 16)
                            out[written + 1] = UInt8(truncatingIfNeeded: accumulator >> 8)
                            out[written + 2] = UInt8(truncatingIfNeeded: accumulator)
                        }
                        written += 3
                        sextets = 0
                        accumulator = 0
                    }
                } else if value == Self.skip {
                    continue
                } else if value == Self.pad {
                    if padded { continue }  // the second `=` of `xx==`
                    padded = true
                    // `xx==` → one byte, `xxx=` → two bytes.
                    switch sextets {
                    case 2:
                        out?[written] = UInt8(truncatingIfNeeded: accumulator >> 4)
                        written += 1
                    case 3:
                        out?[written] = UInt8(truncatingIfNeeded: accumulator >> 10)
                        out?[written + 1] = UInt8(truncatingIfNeeded: accumulator >> 2)
                        written += 2
                    default:
                        failure = .invalidCharacter(offset: base + index, byte: byte)
                        return
                    }
                    sextets = 0
                    accumulator = 0
                } else {
                    failure = .invalidCharacter(offset: base + index, byte: byte)
                    return
                }
            }
        }
        self.accumulator = accumulator
        self.sextets = sextets
        self.padded = padded
        self.inputCount += bytes.count
        self.outputCount += written
        return (written, failure)
    }
}

extension Base64StreamDecoder {
    /// Decodes a complete base64 text (line breaks allowed, padding optional); nil if it is not
    /// base64.
    public static func decode<Bytes: Sequence>(_ text: Bytes) -> [UInt8]? where Bytes.Element == UInt8 {
        var decoder = Base64StreamDecoder()
        var output: ByteBuffer? = ByteBuffer()
        var failed = false
        Array(text).withUnsafeBytes { bytes in
            do { try decoder.decode(bytes, into: &output!) } catch { failed = true }
        }
        do {
            try decoder.finish(into: &output)
        } catch {
            failed = true
        }
        if failed { return nil }
        return Array(output!.readableBytesView)
    }
}
