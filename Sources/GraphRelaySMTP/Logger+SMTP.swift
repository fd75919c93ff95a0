import Logging

extension Logger {
    /// A copy with one more metadata entry.
    func with(metadataKey key: String, value: Logger.MetadataValue) -> Logger {
        var copy = self
        copy[metadataKey: key] = value
        return copy
    }
}
