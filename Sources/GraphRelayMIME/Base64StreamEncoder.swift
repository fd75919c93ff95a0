import NIOCore

/// Base64 (RFC 4648 §4, standard alphabet, padded, no line breaks) encoded incrementally: feed
/// chunks of any size, get encoded chunks back, and the final padding at the end. Up to two input
/// bytes are carried between chunks, so the output equals encoding the concatenated input at once.
public struct Base64StreamEncoder: Sendable {
    private var carry: (UInt8, UInt8) = (0, 0)
    private var carryCount = 0
    /// Input bytes consumed so far.
    public private(set) var inputCount = 0

    public init() {}

    /// The encoded length of `count` input bytes: `4 * ceil(count / 3)`.
    public static func encodedLength(of count: Int) -> Int {
        ((count + 2) / 3) * 4
    }

    private static let alphabet = Base64.standardAlphabet

    /// Encodes as much of `input` as forms whole 3-byte groups (with the carried bytes), appending
    /// the characters to `output`.
    public mutating func encode(_ input: ByteBuffer, into output: inout ByteBuffer) {
        input.withUnsafeReadableBytes { bytes in
            encode(bytes, into: &output)
        }
    }

    public mutating func encode(_ bytes: UnsafeRawBufferPointer, into output: inout ByteBuffer) {
        guard bytes.count > 0 else { return }
        inputCount += bytes.count
        var index = 0
        // Complete the carried group first.
        var head: [UInt8] = []
        if carryCount > 0 {
            head = carryCount == 1 ? [carry.0] : [carry.0, carry.1]
            while head.count < 3 && index < bytes.count {
                head.append(bytes[index])
                index += 1
            }
            if head.count < 3 {
                carry = (head[0], head.count > 1 ? head[1] : 0)
                carryCount = head.count
                return
            }
            carryCount = 0
        }
        let remaining = bytes.count - index
        let groups = remaining / 3
        let outputCount = (head.isEmpty ? 0 : 4) + groups * 4
        output.reserveCapacity(minimumWritableBytes: outputCount)
        output.writeWithUnsafeMutableBytes(minimumWritableBytes: outputCount) { out in
            let table = Self.alphabet
            var o = 0
            @inline(__always) func put(_ a: UInt8, _ b: UInt8, _ c: UInt8) {
                out[o] = table[Int(a >> 2)]
                out[o + 1] = table[Int(((a & 0x03) << 4) | (b >> 4))]
                out[o + 2] = table[Int(((b & 0x0F) << 2) | (c >> 6))]
                out[o + 3] = table[Int(c & 0x3F)]
                o += 4
            }
            if !head.isEmpty { put(head[0], head[1], head[2]) }
            var i = index
            let end = index + groups * 3
            while i < end {
                put(bytes[i], bytes[i + 1], bytes[i + 2])
                i += 3
            }
            return o
        }
        index += groups * 3
        let left = bytes.count - index
        if left > 0 {
            carry = (bytes[index], left > 1 ? bytes[index + 1] : 0)
            carryCount = left
        }
    }

    /// Writes the last group with padding (if any input is carried) and resets the carry.
    public mutating func finish(into output: inout ByteBuffer) {
        let table = Self.alphabet
        switch carryCount {
        case 1:
            let a = carry.0
            output.writeBytes([table[Int(a >> 2)], table[Int((a & 0x03) << 4)], UInt8(ascii: "="), UInt8(ascii: "=")])
        case 2:
            let (a, b) = carry
            output.writeBytes([table[Int(a >> 2)], table[Int(((a & 0x03) << 4) | (b >> 4))], table[Int((b & 0x0F) << 2)], UInt8(ascii: "=")])
        default:
            break
        }
        carryCount = 0
    }
}
