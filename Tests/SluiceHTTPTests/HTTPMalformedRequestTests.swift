import SluiceHTTP
import SluiceTestSupport
import Testing

/// Requests libmicrohttpd refuses while parsing them get the same JSON error body as every other error
/// (they had libmicrohttpd's HTML), each with a single response head, and the connection closed.
@Suite struct HTTPMalformedRequestTests {
    /// Sends `request` on a new connection and reads the one response; checks that nothing follows it.
    private func answer(to request: String, _ client: TestHTTPClient) async throws -> TestHTTPResponse {
        let connection = try await client.connect()
        defer { connection.close() }
        let (response, closed) = try await onThread {
            (try connection.roundTrip(Array(request.utf8), method: "GET"), connection.isClosedByPeer(timeout: 30))
        }
        #expect(closed, "the connection stays open or more bytes follow the response")
        return response
    }

    private func expectJSONError(_ response: TestHTTPResponse, status: Int, code: String, _ what: String) {
        #expect(response.status == status, "\(what): \(response.status) \(response.text.prefix(200))")
        #expect(response.header("Content-Type") == "application/json", "\(what)")
        #expect(response.errorCode == code, "\(what): \(response.text.prefix(200))")
    }

    /// libmicrohttpd 0.9.75 answered a malformed Content-Length and then called the handler anyway, sending
    /// its response head twice.
    @Test func unreadableContentLengthIsOneJSONError() async throws {
        try await withServer { _, client in
            let malformed = try await answer(to: "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 12abc\r\n\r\nhello", client)
            expectJSONError(malformed, status: 400, code: "malformed_request", "malformed Content-Length")
            let huge = try await answer(to: "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 999999999999999999999999\r\n\r\n", client)
            expectJSONError(huge, status: 413, code: "payload_too_large", "overflowing Content-Length")
            #expect(try await client.get("/hello").text == "hello")
        }
    }

    @Test func oversizedHeadsAreJSONErrors() async throws {
        try await withServer { _, client in
            let longPath = "/" + String(repeating: "a", count: 40_000)
            expectJSONError(try await answer(to: "GET \(longPath) HTTP/1.1\r\nHost: t\r\n\r\n", client),
                            status: 414, code: "uri_too_long", "40 KB path")
            let bigHeader = "X-Filler: " + String(repeating: "b", count: 40_000)
            expectJSONError(try await answer(to: "GET /hello HTTP/1.1\r\nHost: t\r\n\(bigHeader)\r\n\r\n", client),
                            status: 431, code: "headers_too_large", "40 KB header")
        }
    }

    @Test func unparsableRequestsAreJSONErrors() async throws {
        try await withServer { _, client in
            expectJSONError(try await answer(to: "GET /hello HTTP/1.1\r\nHost: t\r\nno colon here\r\n\r\n", client),
                            status: 400, code: "malformed_request", "header line without a colon")
            expectJSONError(try await answer(to: "GET /hello HTTP/2.5\r\nHost: t\r\n\r\n", client),
                            status: 505, code: "http_version_not_supported", "HTTP/2.5")
            let chunked = "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
            expectJSONError(try await answer(to: chunked, client), status: 400, code: "malformed_request", "bad chunk size")
        }
    }
}
