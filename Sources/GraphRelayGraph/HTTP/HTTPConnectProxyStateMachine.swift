import NIOCore

/// Opening an HTTP CONNECT tunnel through a proxy, free of I/O: send the CONNECT request, read the
/// proxy's response head, and either hand the connection over (2xx) or fail with the proxy's
/// status. The proxy must not send anything after its response head before the client speaks, so
/// leftover bytes are an error.
struct HTTPConnectProxyStateMachine {
    private enum State {
        case idle
        case awaitingResponse(ByteBuffer)
        case established
        case failed
    }

    enum Action: Equatable {
        case sendConnect(ByteBuffer)
        case waitForMore
        case established
        case fail(HTTPClientError)
        case none
    }

    private var state: State = .idle
    let target: HTTPEndpoint
    let proxyDescription: String
    let authorization: String?
    /// A proxy response head longer than this is refused.
    static let maxResponseHeadSize = 16 * 1024

    /// - Parameter authorization: the full `Proxy-Authorization` value (e.g. `Basic …`), if any.
    init(target: HTTPEndpoint, proxyDescription: String, authorization: String?) {
        self.target = target
        self.proxyDescription = proxyDescription
        self.authorization = authorization
    }

    mutating func channelActive() -> Action {
        guard case .idle = state else { return .none }
        state = .awaitingResponse(ByteBuffer())
        var request = "CONNECT \(target.hostAndPort) HTTP/1.1\r\nHost: \(target.hostAndPort)\r\nUser-Agent: graph-relay\r\n"
        if let authorization { request += "Proxy-Authorization: \(authorization)\r\n" }
        request += "\r\n"
        return .sendConnect(ByteBuffer(string: request))
    }

    mutating func bytesReceived(_ bytes: ByteBuffer) -> Action {
        guard case .awaitingResponse(var buffer) = state else {
            if case .established = state {
                state = .failed
                return .fail(failure("the proxy sent data before the tunnel was used"))
            }
            return .none
        }
        var bytes = bytes
        buffer.writeBuffer(&bytes)
        let view = buffer.readableBytesView
        guard let end = Self.headerEnd(in: view) else {
            if buffer.readableBytes > Self.maxResponseHeadSize {
                state = .failed
                return .fail(failure("response head longer than \(Self.maxResponseHeadSize) bytes"))
            }
            state = .awaitingResponse(buffer)
            return .waitForMore
        }
        let head = String(decoding: view[view.startIndex..<end], as: UTF8.self)
        let leftover = view.endIndex - (end + 4)
        let statusLine = head.split(separator: "\r\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            state = .failed
            return .fail(failure("not an HTTP response: '\(statusLine.prefix(80))'"))
        }
        guard (200..<300).contains(status) else {
            state = .failed
            let reason = parts.count > 2 ? " \(parts[2])" : ""
            if status == 407 {
                return .fail(failure("the proxy requires authentication (407\(reason)); set user:password in the proxy URL"))
            }
            return .fail(failure("the proxy refused CONNECT \(target.hostAndPort): \(status)\(reason)"))
        }
        guard leftover == 0 else {
            state = .failed
            return .fail(failure("the proxy sent \(leftover) unexpected bytes after its response"))
        }
        state = .established
        return .established
    }

    mutating func channelInactive() -> Action {
        switch state {
        case .idle, .awaitingResponse:
            state = .failed
            return .fail(failure("the proxy closed the connection before answering CONNECT"))
        case .established, .failed:
            return .none
        }
    }

    mutating func errorCaught(_ error: Error) -> Action {
        switch state {
        case .idle, .awaitingResponse:
            state = .failed
            return .fail(failure("\(error)"))
        case .established, .failed:
            return .none
        }
    }

    private func failure(_ detail: String) -> HTTPClientError {
        HTTPClientError(.proxyFailed, detail: "proxy \(proxyDescription): \(detail)")
    }

    private static func headerEnd(in view: ByteBufferView) -> Int? {
        guard view.count >= 4 else { return nil }
        var index = view.startIndex
        while index + 3 < view.endIndex {
            if view[index] == 13 && view[index + 1] == 10 && view[index + 2] == 13 && view[index + 3] == 10 {
                return index
            }
            index += 1
        }
        return nil
    }
}
