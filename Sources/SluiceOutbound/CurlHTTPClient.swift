import CCurl
import Foundation
import SluiceCommon
import SluiceCore

/// ``OutboundHTTP`` over libcurl: one easy handle per POST, performed on a thread of its own (a blocking call
/// that must not hold Swift's cooperative pool). HTTP and HTTPS only, no redirects, no signals.
public struct CurlHTTPClient: OutboundHTTP {
    /// At most this much of an answer's body is kept (receivers' answers are read for the delivery log only).
    public static let maximumBodyBytes = 64 << 10

    /// `curl_global_init`, once per process, before any handle.
    private static let initialized: Bool = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK

    public init() {}

    public func post(_ request: OutboundRequest) async throws(OutboundError) -> OutboundResponse {
        try await Self.offThePool("sluice-curl") { Self.perform(request) }
    }

    /// Runs a transfer on a thread of its own (libcurl blocks), once libcurl is initialised.
    static func offThePool<T: Sendable>(_ name: String, _ transfer: @escaping @Sendable () -> Result<T, OutboundError>)
        async throws(OutboundError) -> T {
        guard initialized else { throw OutboundError(.invalidRequest, "libcurl could not be initialised") }
        let result: Result<T, OutboundError>
        do {
            result = try await runOnDedicatedThread(name: name, transfer)
        } catch {
            throw OutboundError(.invalidRequest, "\(error)")
        }
        return try result.get()
    }

    /// What the callbacks collect.
    private final class Collected {
        var body: [UInt8] = []
        var headers: [String: String] = [:]
    }

    private static func perform(_ request: OutboundRequest) -> Result<OutboundResponse, OutboundError> {
        guard let handle = curl_easy_init() else { return .failure(OutboundError(.invalidRequest, "curl_easy_init failed")) }
        defer { curl_easy_cleanup(handle) }
        var headers: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headers) }
        for (name, value) in request.headers.sorted(by: { $0.key < $1.key }) {
            headers = curl_slist_append(headers, "\(name): \(value)")
        }
        // An empty Expect: no `100-continue` round trip before the body.
        headers = curl_slist_append(headers, "Expect:")
        let collected = Collected()
        let context = Unmanaged.passUnretained(collected).toOpaque()
        var failed = CURLE_OK
        func set(_ code: CURLcode) { if failed == CURLE_OK { failed = code } }
        set(CCurl_setopt_string(handle, CURLOPT_URL, request.url))
        set(CCurl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https"))
        set(CCurl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
        set(CCurl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0))
        set(CCurl_setopt_long(handle, CURLOPT_TIMEOUT_MS, milliseconds(request.timeout)))
        set(CCurl_setopt_long(handle, CURLOPT_POST, 1))
        set(CCurl_setopt_long(handle, CURLOPT_POSTFIELDSIZE, request.body.count))
        set(request.body.withUnsafeBufferPointer { buffer in
            CCurl_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!))
        })
        set(CCurl_setopt_slist(handle, CURLOPT_HTTPHEADER, headers))
        set(CCurl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, request.verifyTLS ? 1 : 0))
        set(CCurl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, request.verifyTLS ? 2 : 0))
        if let caFile = request.caFile { set(CCurl_setopt_string(handle, CURLOPT_CAINFO, caFile)) }
        set(CCurl_setopt_callback(handle, CURLOPT_WRITEFUNCTION) { data, size, count, context in
            let collected = Unmanaged<Collected>.fromOpaque(context!).takeUnretainedValue()
            let length = size * count
            let room = max(0, CurlHTTPClient.maximumBodyBytes - collected.body.count)
            if let data, room > 0 {
                collected.body += UnsafeRawBufferPointer(start: data, count: min(length, room))
            }
            return length
        })
        set(CCurl_setopt_pointer(handle, CURLOPT_WRITEDATA, context))
        set(CCurl_setopt_callback(handle, CURLOPT_HEADERFUNCTION) { data, size, count, context in
            let collected = Unmanaged<Collected>.fromOpaque(context!).takeUnretainedValue()
            let length = size * count
            if let data {
                let line = String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
                if let colon = line.firstIndex(of: ":") {
                    let name = line[..<colon].lowercased()
                    collected.headers[name] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
                }
            }
            return length
        })
        set(CCurl_setopt_pointer(handle, CURLOPT_HEADERDATA, context))
        guard failed == CURLE_OK else {
            return .failure(OutboundError(.invalidRequest, "libcurl refused an option: \(String(cString: curl_easy_strerror(failed)))"))
        }
        let outcome = curl_easy_perform(handle)
        guard outcome == CURLE_OK else { return .failure(failure(outcome, String(cString: curl_easy_strerror(outcome)))) }
        var status = 0
        _ = CCurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return .success(OutboundResponse(status: status, headers: collected.headers, body: collected.body))
    }

    /// A timeout as libcurl takes it: whole milliseconds, at least one.
    static func milliseconds(_ timeout: Duration) -> Int {
        max(1, Int(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000))
    }

    /// What a failed transfer's `outcome` means for the caller.
    static func failure(_ outcome: CURLcode, _ message: String) -> OutboundError {
        switch outcome {
        case CURLE_OPERATION_TIMEDOUT: OutboundError(.timedOut, message)
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CERTPROBLEM:
            OutboundError(.tlsFailed, message)
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL: OutboundError(.invalidRequest, message)
        default: OutboundError(.connectionFailed, message)
        }
    }
}
