import GraphRelayGraph
import Testing

@Suite("Clouds and applications")
struct GraphApplicationTests {
    @Test(arguments: [
        (GraphCloud.global, "https://login.microsoftonline.com", "https://graph.microsoft.com"),
        (.usgov, "https://login.microsoftonline.us", "https://graph.microsoft.us"),
        (.usgovDoD, "https://login.microsoftonline.us", "https://dod-graph.microsoft.us"),
        (.china, "https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn"),
    ])
    func cloudEndpoints(cloud: GraphCloud, login: String, graph: String) {
        #expect(cloud.loginEndpoint == login)
        #expect(cloud.graphEndpoint == graph)
        #expect(cloud.scope == graph + "/.default")
        #expect(GraphCloud(configurationValue: cloud.rawValue.uppercased()) == cloud)
    }

    @Test func configurationSpellings() {
        #expect(GraphCloud(configurationValue: "usgov_dod") == .usgovDoD)
        #expect(GraphCloud(configurationValue: "mooncake") == nil)
    }

    @Test func overridesKeepTheScope() {
        let application = GraphApplication(name: "a", cloud: .china, tenantID: "contoso.partner.onmschina.cn", clientID: "c",
                                           credential: .clientSecret("s"), loginEndpoint: "https://127.0.0.1:8443/",
                                           graphEndpoint: "https://proxy.example/graph//")
        #expect(application.effectiveLoginEndpoint == "https://127.0.0.1:8443")
        #expect(application.effectiveGraphEndpoint == "https://proxy.example/graph")
        #expect(application.scope == "https://microsoftgraph.chinacloudapi.cn/.default")
        #expect(application.tokenURL == "https://127.0.0.1:8443/contoso.partner.onmschina.cn/oauth2/v2.0/token")
    }

    @Test func sendMailURLEncodesTheMailbox() throws {
        let application = GraphApplication(name: "a", tenantID: "t", clientID: "c", credential: .clientSecret("s"),
                                           graphEndpoint: "https://graph.example/base")
        let client = try GraphClient(application: application, tokenProvider: StaticTokenProvider("x"),
                                     httpClient: HTTPClient())
        #expect(client.sendMailURL(mailbox: "a+b@contoso.com").description == "https://graph.example/base/v1.0/users/a%2Bb@contoso.com/sendMail")
    }

    @Test func badEndpointIsASetupError() {
        let application = GraphApplication(name: "contoso", tenantID: "t", clientID: "c", credential: .clientSecret("s"),
                                           graphEndpoint: "graph.example")
        #expect {
            try GraphClient(application: application)
        } throws: { error in
            "\(error)".hasPrefix("application 'contoso': graphEndpoint: invalid URL 'graph.example'")
        }
    }

    @Test func unusableCertificateIsASetupError() {
        let application = GraphApplication(name: "contoso", tenantID: "t", clientID: "c",
                                           credential: .certificate(certificate: .file("/missing/app.pem"), privateKey: .file("/missing/app.key")))
        #expect {
            try GraphClient(application: application)
        } throws: { error in
            "\(error)".contains("/missing/app.pem") && "\(error)".contains("fix:")
        }
    }

    @Test func descriptionsNeverShowSecrets() throws {
        let application = GraphApplication(name: "contoso", tenantID: "t", clientID: "c", credential: .clientSecret("TopSecret-1"))
        let proxy = try HTTPProxyConfiguration(url: "http://user:TopSecret-2@proxy:3128")
        let token = GraphAccessToken(value: "TopSecret-3", expiresAt: .now + .seconds(60), refreshAt: .now + .seconds(30))
        let texts = ["\(application)", String(reflecting: application), "\(proxy)", String(reflecting: proxy),
                     "\(token)", String(reflecting: token), "\([application])", "\(Optional(token) as Any)"]
        for text in texts {
            #expect(!text.contains("TopSecret"), "\(text)")
        }
        #expect("\(application)" == "application 'contoso' (cloud global, tenant t, client c, client secret (redacted))")
    }

    @Test func maxMessageSizeFitsTheRequestLimit() {
        #expect(GraphClientConfiguration().maxMessageSize == 3_145_728)
    }
}
