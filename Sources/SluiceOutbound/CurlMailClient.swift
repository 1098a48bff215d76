import CCurl
import Foundation
import SluiceCore

/// ``OutboundMailer`` over libcurl's SMTP: one easy handle per message, performed on a thread of its own (a
/// blocking call that must not hold Swift's cooperative pool). SMTP with STARTTLS required or not, SMTPS,
/// AUTH when a username is given.
public struct CurlMailClient: OutboundMailer {
    public init() {}

    public func send(_ mail: OutboundMail) async throws(OutboundError) -> Int {
        try await CurlHTTPClient.offThePool("sluice-smtp") { Self.perform(mail) }
    }

    /// The message as libcurl reads it.
    private final class Upload {
        let bytes: [UInt8]
        var offset = 0

        init(_ bytes: [UInt8]) {
            self.bytes = bytes
        }
    }

    private static func perform(_ mail: OutboundMail) -> Result<Int, OutboundError> {
        guard let handle = curl_easy_init() else { return .failure(OutboundError(.invalidRequest, "curl_easy_init failed")) }
        defer { curl_easy_cleanup(handle) }
        var recipients: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(recipients) }
        for recipient in mail.recipients { recipients = curl_slist_append(recipients, "<\(recipient)>") }
        let upload = Upload(mail.message)
        var failed = CURLE_OK
        func set(_ code: CURLcode) { if failed == CURLE_OK { failed = code } }
        set(CCurl_setopt_string(handle, CURLOPT_URL, mail.url))
        set(CCurl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "smtp,smtps"))
        set(CCurl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
        set(CCurl_setopt_long(handle, CURLOPT_TIMEOUT_MS, CurlHTTPClient.milliseconds(mail.timeout)))
        set(CCurl_setopt_long(handle, CURLOPT_USE_SSL, Int(mail.requireTLS ? CURLUSESSL_ALL.rawValue : CURLUSESSL_NONE.rawValue)))
        set(CCurl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, mail.verifyTLS ? 1 : 0))
        set(CCurl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, mail.verifyTLS ? 2 : 0))
        if let caFile = mail.caFile { set(CCurl_setopt_string(handle, CURLOPT_CAINFO, caFile)) }
        if let username = mail.username {
            set(CCurl_setopt_string(handle, CURLOPT_USERNAME, username))
            set(CCurl_setopt_string(handle, CURLOPT_PASSWORD, mail.password ?? ""))
        }
        set(CCurl_setopt_string(handle, CURLOPT_MAIL_FROM, "<\(mail.from)>"))
        set(CCurl_setopt_slist(handle, CURLOPT_MAIL_RCPT, recipients))
        set(CCurl_setopt_long(handle, CURLOPT_UPLOAD, 1))
        set(CCurl_setopt_callback(handle, CURLOPT_READFUNCTION) { buffer, size, count, context in
            let upload = Unmanaged<Upload>.fromOpaque(context!).takeUnretainedValue()
            let length = min(size * count, upload.bytes.count - upload.offset)
            guard let buffer, length > 0 else { return 0 }
            upload.bytes.withUnsafeBufferPointer { bytes in
                UnsafeMutableRawPointer(buffer).copyMemory(from: bytes.baseAddress! + upload.offset, byteCount: length)
            }
            upload.offset += length
            return length
        })
        set(withExtendedLifetime(upload) { CCurl_setopt_pointer(handle, CURLOPT_READDATA, Unmanaged.passUnretained(upload).toOpaque()) })
        guard failed == CURLE_OK else {
            return .failure(OutboundError(.invalidRequest, "libcurl refused an option: \(String(cString: curl_easy_strerror(failed)))"))
        }
        let outcome = withExtendedLifetime(upload) { curl_easy_perform(handle) }
        var reply = 0
        _ = CCurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &reply)
        guard outcome == CURLE_OK else {
            let message = String(cString: curl_easy_strerror(outcome)) + (reply > 0 ? " (SMTP reply \(reply))" : "")
            let answered = reply > 0 ? reply : nil
            switch outcome {
            case CURLE_LOGIN_DENIED: return .failure(OutboundError(.rejected, message, reply: answered))
            case CURLE_USE_SSL_FAILED: return .failure(OutboundError(.tlsFailed, "the server offers no STARTTLS: " + message, reply: answered))
            default:
                if (400...499).contains(reply) { return .failure(OutboundError(.deferred, message, reply: reply)) }
                if (500...599).contains(reply) { return .failure(OutboundError(.rejected, message, reply: reply)) }
                return .failure(CurlHTTPClient.failure(outcome, message))
            }
        }
        return .success(reply)
    }
}
