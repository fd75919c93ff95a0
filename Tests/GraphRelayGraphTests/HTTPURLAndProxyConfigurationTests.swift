import Testing
@testable import GraphRelayGraph

@Suite("HTTPURL and HTTPProxyConfiguration")
struct HTTPURLAndProxyConfigurationTests {
    @Test func parsesURLs() throws {
        let graph = try HTTPURL("https://graph.microsoft.com")
        #expect(graph.endpoint == HTTPEndpoint(scheme: .https, host: "graph.microsoft.com", port: 443))
        #expect(graph.target == "/")
        let local = try HTTPURL("http://127.0.0.1:8080/base?x=1#frag")
        #expect(local.endpoint.port == 8080)
        #expect(local.target == "/base?x=1")
        let v6 = try HTTPURL("https://[::1]:8443/p")
        #expect(v6.endpoint.host == "::1")
        #expect(v6.endpoint.authority == "[::1]:8443")
        #expect(try HTTPURL("HTTPS://Login.Example").endpoint.scheme == .https)
    }

    @Test(arguments: ["graph.microsoft.com", "ftp://x", "https://", "https://host:0", "https://host:99999", "https://[::1", "https://ho st"])
    func rejectsInvalidURLs(_ text: String) {
        #expect(throws: HTTPClientError.self) { try HTTPURL(text) }
    }

    @Test func appendsPathsAndEncodesMailboxes() throws {
        let root = try HTTPURL("https://graph.example/prefix/")
        #expect(root.appending(path: "/v1.0/users/x").target == "/prefix/v1.0/users/x")
        #expect(HTTPURL.encodePathSegment("first.last+tag@contoso.com") == "first.last%2Btag@contoso.com")
        #expect(HTTPURL.encodePathSegment("a/b?c#d é") == "a%2Fb%3Fc%23d%20%C3%A9")
    }

    @Test func proxyFromEnvironmentLowercaseWins() throws {
        let proxy = try #require(try HTTPProxyConfiguration.fromEnvironment([
            "https_proxy": "http://user:p%40ss@proxy.corp:3128/", "HTTPS_PROXY": "http://other:1",
            "no_proxy": "localhost, .internal.example,10.0.0.5:8443",
        ]))
        #expect(proxy.host == "proxy.corp")
        #expect(proxy.port == 3128)
        #expect(proxy.username == "user")
        #expect(proxy.password == "p@ss")
        #expect(proxy.authorizationHeader == "Basic dXNlcjpwQHNz")
        #expect(proxy.description == "http://***@proxy.corp:3128")
        #expect(proxy.noProxy == ["localhost", ".internal.example", "10.0.0.5:8443"])
        #expect(try HTTPProxyConfiguration.fromEnvironment(["PATH": "/bin"]) == nil)
        #expect(try HTTPProxyConfiguration.fromEnvironment(["HTTPS_PROXY": "proxy:8000"])?.port == 8000)
    }

    @Test func noProxyMatching() throws {
        let proxy = HTTPProxyConfiguration(host: "p", port: 1, noProxy: ["localhost", ".internal.example", "corp.example", "10.0.0.5:8443", "[::1]"])
        #expect(!proxy.shouldProxy(HTTPEndpoint(scheme: .https, host: "localhost")))
        #expect(!proxy.shouldProxy(HTTPEndpoint(scheme: .https, host: "a.internal.example")))
        #expect(!proxy.shouldProxy(HTTPEndpoint(scheme: .https, host: "deep.a.corp.example")))
        #expect(!proxy.shouldProxy(HTTPEndpoint(scheme: .https, host: "corp.example")))
        #expect(proxy.shouldProxy(HTTPEndpoint(scheme: .https, host: "notcorp.example")))
        #expect(!proxy.shouldProxy(HTTPEndpoint(scheme: .https, host: "10.0.0.5", port: 8443)))
        #expect(proxy.shouldProxy(HTTPEndpoint(scheme: .https, host: "10.0.0.5", port: 443)))
        #expect(!proxy.shouldProxy(HTTPEndpoint(scheme: .https, host: "::1")))
        #expect(proxy.shouldProxy(HTTPEndpoint(scheme: .https, host: "graph.microsoft.com")))
        #expect(!HTTPProxyConfiguration(host: "p", port: 1, noProxy: ["*"]).shouldProxy(HTTPEndpoint(scheme: .https, host: "x")))
    }

    @Test func httpsProxyIsRejectedClearly() {
        #expect {
            try HTTPProxyConfiguration(url: "https://secure-proxy:443")
        } throws: { error in
            (error as? HTTPClientError)?.detail.contains("TLS to the proxy (https://) is not supported") == true
        }
    }

    @Test func proxyURLErrorsDoNotLeakPasswords() {
        #expect {
            try HTTPProxyConfiguration(url: "http://user:hunter2@proxy:notaport")
        } throws: { error in
            let text = "\(error)"
            return !text.contains("hunter2") && text.contains("***@proxy")
        }
    }
}
