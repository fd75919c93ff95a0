/// Base64 decoding as strict as Graph's MIME endpoint: the standard alphabet, correct `=` padding
/// at the very end, total length a multiple of four; white space (line wrapping, as in Microsoft's
/// own examples) is ignored. Anything else fails with the offset of the first bad character.
enum StrictBase64 {
    enum Failure: Error, Equatable {
        case invalidCharacter(offset: Int)
        case badLength(Int)
        case misplacedPadding(offset: Int)
    }

    private static let table: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(byte)] = UInt8(index)
        }
        return table
    }()

    static func decode(_ input: UnsafeRawBufferPointer) -> Result<[UInt8], Failure> {
        var output: [UInt8] = []
        output.reserveCapacity(input.count / 4 * 3)
        var quad: (UInt32, Int) = (0, 0)
        var padding = 0
        var significant = 0
        let table = Self.table
        for (offset, byte) in input.enumerated() {
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n"):
                continue
            case UInt8(ascii: "="):
                padding += 1
                significant += 1
                if padding > 2 || quad.1 < 2 { return .failure(.misplacedPadding(offset: offset)) }
                continue
            default:
                if padding > 0 { return .failure(.misplacedPadding(offset: offset)) }
                let value = table[Int(byte)]
                if value == 0xFF { return .failure(.invalidCharacter(offset: offset)) }
                significant += 1
                quad.0 = quad.0 << 6 | UInt32(value)
                quad.1 += 1
                if quad.1 == 4 {
                    output.append(UInt8(truncatingIfNeeded: quad.0 >> 16))
                    output.append(UInt8(truncatingIfNeeded: quad.0 >> 8))
                    output.append(UInt8(truncatingIfNeeded: quad.0))
                    quad = (0, 0)
                }
            }
        }
        guard significant % 4 == 0 else { return .failure(.badLength(significant)) }
        switch quad.1 {
        case 2:
            output.append(UInt8(truncatingIfNeeded: quad.0 >> 4))
        case 3:
            output.append(UInt8(truncatingIfNeeded: quad.0 >> 10))
            output.append(UInt8(truncatingIfNeeded: quad.0 >> 2))
        default:
            break
        }
        return .success(output)
    }

    static func decode(_ bytes: [UInt8]) -> Result<[UInt8], Failure> {
        bytes.withUnsafeBytes { decode($0) }
    }
}
