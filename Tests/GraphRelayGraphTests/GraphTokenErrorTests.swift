import Testing
@testable import GraphRelayGraph

@Suite("GraphTokenError")
struct GraphTokenErrorTests {
    func entra(_ error: String, _ code: Int, _ text: String) -> String {
        #"{"error":"\#(error)","error_description":"AADSTS\#(code): \#(text)\r\nTrace ID: t\r\nCorrelation ID: c","error_codes":[\#(code)],"trace_id":"trace-1","correlation_id":"corr-1"}"#
    }

    @Test(arguments: [
        (7000215, "invalid_client", GraphTokenError.Kind.invalidCredential, "Value (not its Secret ID)"),
        (7000222, "invalid_client", .expiredCredential, "has expired"),
        (90002, "invalid_request", .unknownTenant, "tenant does not exist"),
        (700016, "unauthorized_client", .unknownApplication, "no application with this clientId"),
        (700027, "invalid_client", .invalidCredential, "upload this certificate"),
        (70011, "invalid_scope", .invalidScope, "cloud"),
        (7000112, "unauthorized_client", .applicationDisabled, "disabled"),
    ])
    func classifiesEntraErrors(code: Int, error: String, kind: GraphTokenError.Kind, remedy: String) {
        let failure = GraphTokenError.fromResponse(status: 401, body: entra(error, code, "Something."), application: "contoso")
        #expect(failure.kind == kind)
        #expect(failure.aadstsCode == code)
        #expect(failure.oauthError == error)
        #expect(failure.detail == "AADSTS\(code): Something.")
        #expect(failure.traceID == "trace-1")
        #expect(failure.remedy.contains(remedy))
        #expect(failure.description.hasPrefix("token request for application 'contoso' failed"))
        #expect(failure.description.contains("AADSTS\(code)"))
        #expect(!failure.isTransient)
    }

    @Test func codeFromDescriptionWhenNoList() {
        let failure = GraphTokenError.fromResponse(status: 400, body: #"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret."}"#, application: "a")
        #expect(failure.aadstsCode == 7000215)
        #expect(failure.kind == .invalidCredential)
    }

    @Test func nonOAuthAnswers() {
        let outage = GraphTokenError.fromResponse(status: 503, body: "<html>down</html>", application: "a")
        #expect(outage.kind == .endpointUnavailable)
        #expect(outage.isTransient)
        let wrongEndpoint = GraphTokenError.fromResponse(status: 404, body: "", application: "a")
        #expect(wrongEndpoint.kind == .invalidResponse)
        #expect(wrongEndpoint.remedy.contains("loginEndpoint"))
    }
}
