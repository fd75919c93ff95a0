import GraphRelayGraph
import Logging
import NIOCore
import NIOPosix

/// One GET to an admin listener (`graph-relay health`), with the relay's own HTTP client.
public enum AdminProbe {
    public enum Answer: Sendable, Equatable {
        case answered(status: Int, body: String)
        case failed(String)
    }

    public static func get(_ url: String, timeout: Duration) async -> Answer {
        let target: HTTPURL
        do {
            target = try HTTPURL(url)
        } catch {
            return .failed("not a URL: \(error.detail)")
        }
        let client: HTTPClient
        do {
            client = try HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        } catch {
            return .failed("\(error)")
        }
        do {
            let response = try await client.execute(HTTPClientRequest(method: .GET, url: target), timeout: TimeAmount(timeout),
                                                    logger: Logger(label: "graph-relay.health", factory: { _ in SwiftLogNoOpLogHandler() }))
            let answer = Answer.answered(status: Int(response.status.code), body: response.bodyString)
            await client.shutdown()
            return answer
        } catch {
            await client.shutdown()
            return .failed("\(error)")
        }
    }
}
