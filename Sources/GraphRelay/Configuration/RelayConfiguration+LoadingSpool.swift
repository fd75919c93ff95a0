import GraphRelayGraph
import Foundation
import GraphRelayTLS
import Logging
import Yams

// Reading the `spool` section of the configuration file (see RelayConfiguration+Loading.swift).
extension RelayConfiguration {
    mutating func readSpool(_ node: Node, _ reader: inout ConfigurationReader) {
        guard var map = reader.mapping(node, "spool") else { return }
        if let value = map.take("directory", &reader), let directory = reader.nonEmptyString(value, "spool.directory") {
            spool.directory = reader.resolve(path: directory)
        }
        if let value = map.take("minimumFreeSpace", &reader) {
            spool.minimumFreeSpace = reader.byteSize(value, "spool.minimumFreeSpace", range: 0...Int.max) ?? spool.minimumFreeSpace
        }
        if let value = map.take("retry", &reader), var retryMap = reader.mapping(value, "spool.retry") {
            if let node = retryMap.take("initial", &reader) {
                spool.retry.initial = reader.duration(node, "spool.retry.initial", minimum: .milliseconds(100)) ?? spool.retry.initial
            }
            if let node = retryMap.take("maximum", &reader) {
                spool.retry.maximum = reader.duration(node, "spool.retry.maximum", minimum: .milliseconds(100)) ?? spool.retry.maximum
            }
            if let node = retryMap.take("lifetime", &reader) {
                spool.retry.lifetime = reader.duration(node, "spool.retry.lifetime", minimum: .seconds(1), maximum: .seconds(30 * 86_400))
                    ?? spool.retry.lifetime
            }
            if let node = retryMap.take("multiplier", &reader) {
                spool.retry.multiplier = reader.double(node, "spool.retry.multiplier", range: 1...10) ?? spool.retry.multiplier
            }
            retryMap.finish(&reader)
        }
        map.finish(&reader)
    }
}
