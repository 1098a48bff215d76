import SluiceStore

/// A failure of a domain operation, with a stable machine-readable code; the API layer maps its
/// `kind` onto an HTTP status.
public struct ServiceError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, in terms the API layer can map onto a status.
    public enum Kind: Sendable {
        case invalid, unauthorized, notFound, conflict, tooLarge, unsupportedType, unprocessable, rateLimited, insufficientStorage,
            unavailable
    }

    public let kind: Kind
    /// A stable code such as `file_too_large`.
    public let code: String
    public let message: String
    /// Further problems, one per entry (e.g. every invalid field of a definition).
    public let details: [String]
    /// For `rateLimited`: seconds until a retry can succeed.
    public let retryAfterSeconds: Int?

    public init(_ kind: Kind, _ code: String, _ message: String, details: [String] = [], retryAfterSeconds: Int? = nil) {
        self.kind = kind
        self.code = code
        self.message = message
        self.details = details
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var description: String { "\(code): \(message)" }

    /// The answer for a value a client sent that the store cannot hold (U+0000 in text or `jsonb`: `22021`,
    /// `22P05`; a time out of range: `22007`, `22008`): `400 invalid_value`, never a `500`; `nil` for any other
    /// error (other data exceptions, such as an overflow in an aggregate, are the server's).
    public static func unstorableValue(_ error: any Error) -> ServiceError? {
        guard let error = error as? PostgresError, ["22021", "22P05", "22007", "22008"].contains(error.sqlState ?? "") else { return nil }
        return ServiceError(.invalid, "invalid_value", "a value cannot be stored: \(error.message)")
    }

    /// The answer for a store outage (see `PostgresError.isStoreUnavailable`): `503 store_unavailable` with a
    /// `Retry-After`, never a `500`; `nil` for any other error.
    public static func storeUnavailable(_ error: any Error) -> ServiceError? {
        guard let error = error as? PostgresError, error.isStoreUnavailable else { return nil }
        return ServiceError(.unavailable, "store_unavailable", "the data store is unavailable; retry later",
                            retryAfterSeconds: 5)
    }

    /// The answer for a tenant that does not exist or that the caller may not see: both look the same.
    public static func tenantNotFound(_ id: String) -> ServiceError {
        ServiceError(.notFound, "tenant_not_found", "no tenant \"\(id)\"")
    }
}
