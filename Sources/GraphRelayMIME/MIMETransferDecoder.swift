import NIOCore

/// `Content-Transfer-Encoding` (RFC 2045 §6.1).
public enum MIMETransferEncoding: Sendable, Hashable, CustomStringConvertible {
    case sevenBit
    case eightBit
    case binary
    case base64
    case quotedPrintable
    /// Anything else (`x-uuencode`, …): the body is taken as it is.
    case other(String)

    /// Parses the header value; absent means `7bit`.
    public init(_ value: String?) {
        switch value?.trimmingBlanks.lowercased() {
        case nil, "", "7bit": self = .sevenBit
        case "8bit": self = .eightBit
        case "binary": self = .binary
        case "base64": self = .base64
        case "quoted-printable": self = .quotedPrintable
        case let other?: self = .other(other)
        }
    }

    /// Whether the body bytes are the content (no decoding).
    public var isIdentity: Bool {
        switch self {
        case .base64, .quotedPrintable: false
        case .sevenBit, .eightBit, .binary, .other: true
        }
    }

    public var description: String {
        switch self {
        case .sevenBit: "7bit"
        case .eightBit: "8bit"
        case .binary: "binary"
        case .base64: "base64"
        case .quotedPrintable: "quoted-printable"
        case .other(let name): name
        }
    }
}

/// Decodes a body in any ``MIMETransferEncoding``, incrementally.
public struct MIMETransferDecoder: Sendable {
    private enum Engine: Sendable {
        case identity
        case base64(Base64StreamDecoder)
        case quotedPrintable(QuotedPrintableDecoder)
    }

    private var engine: Engine
    private var identityCount = 0

    public init(_ encoding: MIMETransferEncoding) {
        switch encoding {
        case .base64: engine = .base64(Base64StreamDecoder())
        case .quotedPrintable: engine = .quotedPrintable(QuotedPrintableDecoder())
        default: engine = .identity
        }
    }

    /// Decoded bytes produced (or counted) so far.
    public var outputCount: Int {
        switch engine {
        case .identity: identityCount
        case .base64(let decoder): decoder.outputCount
        case .quotedPrintable(let decoder): decoder.outputCount
        }
    }

    /// Decodes `bytes`, appending to `output` (validating and counting only, when nil).
    public mutating func decode(_ bytes: UnsafeRawBufferPointer, into output: inout ByteBuffer?) throws(Base64StreamDecoder.Failure) {
        switch engine {
        case .identity:
            output?.writeBytes(bytes)
            identityCount += bytes.count
        case .base64(var decoder):
            engine = .identity  // no copy-on-write while the decoder is out
            defer { engine = .base64(decoder) }
            if output == nil {
                try decoder.count(bytes)
            } else {
                try decoder.decode(bytes, into: &output!)
            }
        case .quotedPrintable(var decoder):
            engine = .identity
            decoder.decode(bytes, into: &output)
            engine = .quotedPrintable(decoder)
        }
    }

    public mutating func decode(_ buffer: ByteBuffer, into output: inout ByteBuffer?) throws(Base64StreamDecoder.Failure) {
        var failure: Base64StreamDecoder.Failure?
        buffer.withUnsafeReadableBytes { bytes in
            do { try decode(bytes, into: &output) } catch { failure = error as? Base64StreamDecoder.Failure }
        }
        if let failure { throw failure }
    }

    /// Ends the input (appending what the encoding still holds).
    public mutating func finish(into output: inout ByteBuffer?) throws(Base64StreamDecoder.Failure) {
        switch engine {
        case .identity:
            break
        case .base64(var decoder):
            engine = .identity
            defer { engine = .base64(decoder) }
            try decoder.finish(into: &output)
        case .quotedPrintable(var decoder):
            engine = .identity
            decoder.finish(into: &output)
            engine = .quotedPrintable(decoder)
        }
    }
}
