import Foundation
import GraphEmulator
import GraphRelayTestSupport
import NIOHTTP1
import Testing
@testable import GraphRelay

/// The admin listener: the router's answers, and real HTTP requests (curl) to a running relay
/// whose Graph application loses and regains its token.
@Suite("Admin listener: /healthz, /readyz and the bearer token", .timeLimit(.minutes(2)))
struct AdminListenerTests {
    private static let ready = ReadinessReport(checks: [.init(name: "listeners", ok: true, detail: "1 listener(s) bound")])
    private static let notReady = ReadinessReport(checks: [
        .init(name: "listeners", ok: true, detail: "1 listener(s) bound"),
        .init(name: "token:contoso", ok: false, detail: "secret rejected", aadstsCode: 7000215),
    ])

    @Test("healthz and readyz need no token; every other path does when admin.bearerToken is set; only GET and HEAD")
    func router() async {
        let open = AdminRouter(bearerToken: nil) { Self.ready }
        #expect(await open.respond(method: .GET, uri: "/healthz", headers: [:]).status == .ok)
        #expect(await open.respond(method: .GET, uri: "/readyz?verbose", headers: [:]).body == #"{"ready":true,"checks":[{"name":"listeners","ok":true,"detail":"1 listener(s) bound"}]}"# + "\n")
        #expect(await open.respond(method: .GET, uri: "/metrics", headers: [:]).status == .ok)
        #expect(await open.respond(method: .GET, uri: "/metrics", headers: [:]).contentType.hasPrefix("text/plain; version=0.0.4"))
        #expect(await open.respond(method: .GET, uri: "/nothing-here", headers: [:]).status == .notFound)
        #expect(await open.respond(method: .POST, uri: "/healthz", headers: [:]).status == .methodNotAllowed)

        let guarded = AdminRouter(bearerToken: "s3cret-token") { Self.notReady }
        let readyz = await guarded.respond(method: .GET, uri: "/readyz", headers: [:])
        #expect(readyz.status == .serviceUnavailable && readyz.contentType == "application/json")
        #expect(readyz.body.contains(#"{"name":"token:contoso","ok":false,"detail":"secret rejected","aadsts":7000215}"#))
        #expect(await guarded.respond(method: .GET, uri: "/healthz", headers: [:]).status == .ok)
        #expect(await guarded.respond(method: .GET, uri: "/", headers: [:]).status == .unauthorized)
        #expect(await guarded.respond(method: .GET, uri: "/", headers: ["Authorization": "Bearer s3cret-tokeN"]).status == .unauthorized)
        #expect(await guarded.respond(method: .GET, uri: "/", headers: ["Authorization": "Bearer s3cret-token-and-more"]).status == .unauthorized)
        #expect(await guarded.respond(method: .GET, uri: "/", headers: ["Authorization": "bearer s3cret-token"]).status == .ok)
        #expect(await guarded.respond(method: .GET, uri: "/metrics", headers: [:]).status == .unauthorized)
        #expect(await guarded.respond(method: .GET, uri: "/metrics", headers: ["Authorization": "Bearer s3cret-token"]).status == .ok)
    }

    @Test("over HTTP: /readyz is 503 naming the application and its AADSTS code while Entra refuses the secret, 200 again once it accepts it")
    func readinessFollowsTheToken() async throws {
        try await QueueRelayFixture.with { fixture in
            fixture.emulator.injectTokenFault(.error(status: 401, error: "invalid_client", code: 7000215, description: "Invalid client secret provided."), count: 1_000_000)
            let service = try await fixture.start()
            let port = try #require(service.adminAddress?.port)
            let health = try await Self.curl(port: port, path: "/healthz")
            #expect(health.status == 200 && health.body == "ok\n", "\(health)")

            var refused = try await Self.curl(port: port, path: "/readyz")
            for _ in 0..<50 where !refused.body.contains("7000215") {
                try await Task.sleep(for: .milliseconds(100))
                refused = try await Self.curl(port: port, path: "/readyz")
            }
            #expect(refused.status == 503, "\(refused)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(refused.body.utf8)) as? [String: Any])
            #expect(report["ready"] as? Bool == false)
            let checks = try #require(report["checks"] as? [[String: Any]])
            let token = try #require(checks.first { $0["name"] as? String == "token:contoso" }, "\(checks)")
            #expect(token["ok"] as? Bool == false && token["aadsts"] as? Int == 7000215, "\(token)")
            #expect(checks.first { $0["name"] as? String == "listeners" }?["ok"] as? Bool == true)
            #expect(checks.first { $0["name"] as? String == "spool" }?["ok"] as? Bool == true)

            // Entra accepts the secret again: ready within a few checks, without any mail.
            fixture.emulator.clearFaults()
            var ready = refused
            for _ in 0..<100 where ready.status != 200 {
                try await Task.sleep(for: .milliseconds(100))
                ready = try await Self.curl(port: port, path: "/readyz")
            }
            #expect(ready.status == 200, "\(ready)")

            // While the relay stops, readiness is refused before the admin listener goes.
            await service.stopListening(gracePeriod: .seconds(1))
            let draining = try await Self.curl(port: port, path: "/readyz")
            #expect(draining.status == 503 && draining.body.contains(#""name":"listeners","ok":false"#), "\(draining)")
        }
    }

    /// `curl` against the admin listener: status and body.
    static func curl(port: Int, path: String, headers: [String] = []) async throws -> (status: Int, body: String) {
        let marker = "\n--status:"
        let result = try await ProcessRunner.run(
            "curl", ["-s", "--max-time", "10", "-w", "\(marker)%{http_code}"] + headers.flatMap { ["-H", $0] } + ["http://127.0.0.1:\(port)\(path)"], timeout: 20
        )
        guard let range = result.stdout.range(of: marker, options: .backwards), let status = Int(result.stdout[range.upperBound...]) else {
            throw QueueTestError("curl: \(result.stdout) \(result.stderr)")
        }
        return (status, String(result.stdout[..<range.lowerBound]))
    }
}
