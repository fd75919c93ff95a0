import NIOCore
@testable import GraphRelaySMTP

/// A deterministic random generator (SplitMix64), so batch splits are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E4B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// How input is cut into reads.
enum FeedPattern: CustomStringConvertible, CaseIterable {
    case whole
    case byteByByte
    case randomBatches

    var description: String {
        switch self {
        case .whole: "whole"
        case .byteByByte: "byte by byte"
        case .randomBatches: "random batches"
        }
    }

    func pieces(of bytes: [UInt8], seed: UInt64 = 42) -> [[UInt8]] {
        switch self {
        case .whole:
            return [bytes]
        case .byteByByte:
            return bytes.map { [$0] }
        case .randomBatches:
            var generator = SeededGenerator(seed: seed)
            var pieces: [[UInt8]] = []
            var index = 0
            while index < bytes.count {
                let length = Int.random(in: 1...7, using: &generator)
                pieces.append(Array(bytes[index..<min(bytes.count, index + length)]))
                index += length
            }
            return pieces
        }
    }
}

extension ByteBuffer {
    init(bytes: [UInt8]) {
        self = ByteBuffer()
        writeBytes(bytes)
    }

    var bytes: [UInt8] { Array(readableBytesView) }
    var string: String { String(decoding: readableBytesView, as: UTF8.self) }
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
