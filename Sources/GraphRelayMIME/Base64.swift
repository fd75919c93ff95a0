/// Base64 and base64url (RFC 4648 §4 and §5) for whole values: AUTH exchanges, PHC password
/// hashes, JWT segments, Graph's MIME request bodies. Values that arrive or leave in pieces use
/// ``Base64StreamEncoder`` and ``Base64StreamDecoder``, which share these alphabets.
///
/// Decoding is strict by default: only the alphabet's characters, `=` padding only at the end and
/// only as much as the length needs, and canonical (the bits a last partial group leaves over are
/// zero), so that one value has one encoding.
public enum Base64 {
    public enum Alphabet: Sendable, Hashable {
        /// `A–Z a–z 0–9 + /` (RFC 4648 §4).
        case standard
        /// `A–Z a–z 0–9 - _` (RFC 4648 §5), as JWTs use it.
        case url
    }

    public enum Padding: Sendable, Hashable {
        /// The encoded length is a multiple of four, `=` filling the last group.
        case required
        /// Padding may be left out (as some SMTP clients and every JWT do), but must be right when
        /// it is there.
        case optional
    }

    /// Why a value is not base64, with the offset of the first offending byte where there is one.
    public enum DecodingError: Error, Sendable, Hashable, CustomStringConvertible {
        case invalidCharacter(offset: Int)
        /// The number of characters (padding included) cannot be base64.
        case badLength(Int)
        /// `=` where it cannot be, or data after it.
        case misplacedPadding(offset: Int)
        /// The last group leaves non-zero bits over: another encoder's spelling of a shorter value.
        case nonCanonical

        public var description: String {
            switch self {
            case .invalidCharacter(let offset): "invalid base64: a character outside the alphabet at offset \(offset)"
            case .badLength(let count): "invalid base64: \(count) characters cannot be base64"
            case .misplacedPadding(let offset): "invalid base64: misplaced '=' padding at offset \(offset)"
            case .nonCanonical: "invalid base64: the last group is not canonical"
            }
        }
    }

    static let standardAlphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    static let urlAlphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// The marker for a byte outside the alphabet in ``values(of:)``.
    static let invalidValue: UInt8 = 0xFF

    /// Sextet value per byte, ``invalidValue`` for bytes outside the alphabet.
    static func values(of alphabet: Alphabet) -> [UInt8] {
        alphabet == .standard ? standardValues : urlValues
    }

    private static let standardValues = valueTable(standardAlphabet)
    private static let urlValues = valueTable(urlAlphabet)

    private static func valueTable(_ alphabet: [UInt8]) -> [UInt8] {
        var table = [UInt8](repeating: invalidValue, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }

    // MARK: Encoding

    /// `bytes` encoded, padded to a multiple of four unless `padded` is false.
    public static func encode<Bytes: Sequence>(_ bytes: Bytes, alphabet: Alphabet = .standard, padded: Bool = true) -> String
    where Bytes.Element == UInt8 {
        let input = Array(bytes)
        let table = alphabet == .standard ? standardAlphabet : urlAlphabet
        var output: [UInt8] = []
        output.reserveCapacity((input.count + 2) / 3 * 4)
        var index = 0
        while index + 3 <= input.count {
            let group = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
            output.append(table[Int(group >> 18 & 63)])
            output.append(table[Int(group >> 12 & 63)])
            output.append(table[Int(group >> 6 & 63)])
            output.append(table[Int(group & 63)])
            index += 3
        }
        let remaining = input.count - index
        if remaining > 0 {
            let group = UInt32(input[index]) << 16 | (remaining == 2 ? UInt32(input[index + 1]) << 8 : 0)
            output.append(table[Int(group >> 18 & 63)])
            output.append(table[Int(group >> 12 & 63)])
            if remaining == 2 { output.append(table[Int(group >> 6 & 63)]) }
            if padded { output.append(contentsOf: repeatElement(UInt8(ascii: "="), count: 3 - remaining)) }
        }
        return String(decoding: output, as: UTF8.self)
    }

    // MARK: Decoding

    /// The bytes `text` encodes.
    ///
    /// - Parameters:
    ///   - alphabet: the alphabet; a character of the other one is invalid.
    ///   - padding: whether `=` padding must be there.
    ///   - ignoringWhitespace: skip space, tab, CR and LF (line-wrapped bodies, as in Microsoft's
    ///     examples); otherwise they are invalid characters.
    public static func decode(
        _ text: UnsafeRawBufferPointer, alphabet: Alphabet = .standard, padding: Padding = .optional, ignoringWhitespace: Bool = false
    ) -> Result<[UInt8], DecodingError> {
        let table = values(of: alphabet)
        var output: [UInt8] = []
        output.reserveCapacity(text.count / 4 * 3 + 2)
        var group: UInt32 = 0
        var sextets = 0  // in the current group
        var dataCount = 0
        var paddingCount = 0
        for (offset, byte) in text.enumerated() {
            if ignoringWhitespace,
               byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n") {
                continue
            }
            if byte == UInt8(ascii: "=") {
                paddingCount += 1
                if paddingCount > 2 || sextets < 2 { return .failure(.misplacedPadding(offset: offset)) }
                continue
            }
            if paddingCount > 0 { return .failure(.misplacedPadding(offset: offset)) }
            let value = table[Int(byte)]
            guard value != invalidValue else { return .failure(.invalidCharacter(offset: offset)) }
            dataCount += 1
            group = group << 6 | UInt32(value)
            sextets += 1
            if sextets == 4 {
                output.append(UInt8(truncatingIfNeeded: group >> 16))
                output.append(UInt8(truncatingIfNeeded: group >> 8))
                output.append(UInt8(truncatingIfNeeded: group))
                group = 0
                sextets = 0
            }
        }
        let count = dataCount + paddingCount
        if padding == .required || paddingCount > 0 {
            guard count % 4 == 0 else { return .failure(.badLength(count)) }
        } else {
            guard count % 4 != 1 else { return .failure(.badLength(count)) }
        }
        switch sextets {
        case 2:
            guard group & 0x0F == 0 else { return .failure(.nonCanonical) }
            output.append(UInt8(truncatingIfNeeded: group >> 4))
        case 3:
            guard group & 0x03 == 0 else { return .failure(.nonCanonical) }
            output.append(UInt8(truncatingIfNeeded: group >> 10))
            output.append(UInt8(truncatingIfNeeded: group >> 2))
        default:
            break
        }
        return .success(output)
    }

    /// The bytes `text` encodes, or nil when it is not base64 (see the other `decode`).
    public static func decode<Bytes: Collection>(
        _ text: Bytes, alphabet: Alphabet = .standard, padding: Padding = .optional, ignoringWhitespace: Bool = false
    ) -> [UInt8]? where Bytes.Element == UInt8 {
        let decode = { (bytes: UnsafeRawBufferPointer) in
            try? Self.decode(bytes, alphabet: alphabet, padding: padding, ignoringWhitespace: ignoringWhitespace).get()
        }
        if let result = text.withContiguousStorageIfAvailable({ decode(UnsafeRawBufferPointer($0)) }) { return result }
        return Array(text).withUnsafeBytes(decode)
    }

    /// The bytes `text` encodes, or nil when it is not base64 (see the other `decode`).
    public static func decode<Text: StringProtocol>(
        _ text: Text, alphabet: Alphabet = .standard, padding: Padding = .optional, ignoringWhitespace: Bool = false
    ) -> [UInt8]? {
        decode(Array(text.utf8), alphabet: alphabet, padding: padding, ignoringWhitespace: ignoringWhitespace)
    }
}
