import CTransportTLS
import Foundation
import SluiceCommon

/// The certificate chain and private key an HTTPS listener serves, read from PEM files. ``reload()`` reads them
/// again: the next handshakes use the new ones, connections already open keep theirs, and files that do not
/// parse or do not match leave the current ones in place.
///
/// `@unchecked Sendable`: it only holds the C credentials, which take their own lock.
public final class TLSCertificate: @unchecked Sendable {
    /// The PEM certificate chain: the server's certificate first, then any intermediates.
    public let certificatePath: String
    /// The PEM private key of the chain's first certificate (unencrypted).
    public let keyPath: String
    let credentials: OpaquePointer

    /// Reads and checks the files; throws `tls_certificate_invalid` saying what is wrong.
    public init(certificatePath: String, keyPath: String) throws(TLSCertificateError) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        guard let credentials = CTransportTLS_credentials_create() else {
            throw TLSCertificateError(code: TLSCertificateErrorCode.invalid, message: "out of memory")
        }
        self.credentials = credentials
        try reload()
    }

    deinit {
        CTransportTLS_credentials_destroy(credentials)
    }

    /// Reads the files again and serves them from the next handshake on; on failure the current ones stay.
    /// Blocking (reads two files).
    public func reload() throws(TLSCertificateError) {
        let chain = try read(certificatePath, "certificate")
        let key = try read(keyPath, "private key")
        var error = [CChar](repeating: 0, count: 256)
        let replaced = chain.withUnsafeBufferPointer { chain in
            key.withUnsafeBufferPointer { key in
                CTransportTLS_credentials_replace(credentials, chain.baseAddress, chain.count, key.baseAddress, key.count,
                                                  &error, error.count)
            }
        }
        guard replaced == 0 else {
            throw TLSCertificateError(code: TLSCertificateErrorCode.invalid, message: """
                the certificate \(certificatePath) and key \(keyPath) cannot be used: \
                \(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
                """)
        }
    }

    private func read(_ path: String, _ what: String) throws(TLSCertificateError) -> [CChar] {
        guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else {
            throw TLSCertificateError(code: TLSCertificateErrorCode.invalid, message: "cannot read the TLS \(what) \(path)")
        }
        return data.map { CChar(bitPattern: $0) }
    }
}

/// A certificate or key that cannot be served.
public typealias TLSCertificateError = CodedFailure<TLSCertificateErrorCode>

/// The codes of ``TLSCertificateError``.
public enum TLSCertificateErrorCode {
    /// A file is missing or unreadable, does not parse, or the key does not match the certificate.
    public static let invalid = "tls_certificate_invalid"
}
