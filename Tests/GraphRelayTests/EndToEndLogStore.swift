import GraphRelayTestSupport

/// Everything the relay and the emulator log during one end-to-end test (debug level and above).
typealias EndToEndLogStore = LogCapture
