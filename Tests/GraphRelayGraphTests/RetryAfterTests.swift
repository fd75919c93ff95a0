import Foundation
import NIOHTTP1
import Testing
@testable import GraphRelayGraph

@Suite("RetryAfter")
struct RetryAfterTests {
    @Test func secondsIncludingFractions() {
        #expect(RetryAfter.parse("10") == .seconds(10))
        #expect(RetryAfter.parse(" 2.128 ") == .milliseconds(2128))
        #expect(RetryAfter.parse("0") == .zero)
    }

    @Test(arguments: ["", "-1", "abc", "1.2.3", ".5", "1e3", "NaN"])
    func rejectsGarbage(_ value: String) {
        #expect(RetryAfter.parse(value) == nil)
    }

    @Test func httpDates() {
        let now = Date(timeIntervalSince1970: 784_111_717)  // Sun, 06 Nov 1994 08:48:37 GMT
        #expect(RetryAfter.parse("Sun, 06 Nov 1994 08:49:37 GMT", now: now) == .seconds(60))
        #expect(RetryAfter.parse("Sunday, 06-Nov-94 08:49:37 GMT", now: now) == .seconds(60))
        #expect(RetryAfter.parse("Sun Nov  6 08:49:37 1994", now: now) == .seconds(60))
        #expect(RetryAfter.parse("Sun, 06 Nov 1994 08:00:00 GMT", now: now) == .zero)
    }

    @Test func headerNameIsCaseInsensitiveAndHugeValuesAreClamped() {
        #expect(RetryAfter.delay(in: HTTPHeaders([("RETRY-after", "3")])) == .seconds(3))
        #expect(RetryAfter.delay(in: HTTPHeaders([("retry-after", "99999999")])) == RetryAfter.maximum)
        #expect(RetryAfter.delay(in: HTTPHeaders()) == nil)
    }
}
