import Foundation

/// The answer to a committed stream request: how many of its messages were accepted and rejected, why each
/// rejected one was (by its 0-based index in the request), and the micro-batch that committed them.
public struct StreamAnswer: Sendable, Codable, Equatable {
    /// One rejected message.
    public struct Reject: Sendable, Codable, Equatable {
        public var index: Int
        public var reason: String
        public var message: String
        public var field: String?
    }

    public var accepted: Int
    public var rejected: Int
    public var rejects: [Reject]
    public var batchID: String

    enum CodingKeys: String, CodingKey {
        case accepted, rejected, rejects
        case batchID = "batch_id"
    }
}

/// A client's `Idempotency-Key` for a request, with the SHA-256 of the body it came with.
public struct IdempotencyKey: Sendable, Equatable {
    /// Keys are at most this long.
    public static let maximumLength = 255

    public let key: String
    public let bodySHA256: String

    /// Throws `invalid_idempotency_key` for an empty or overlong key, or one with control characters.
    public init(_ key: String, bodySHA256: String) throws(ServiceError) {
        guard !key.isEmpty, key.utf8.count <= Self.maximumLength, !key.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw ServiceError(.invalid, "invalid_idempotency_key",
                               "Idempotency-Key must be 1 to \(Self.maximumLength) bytes without control characters")
        }
        self.key = key
        self.bodySHA256 = bodySHA256
    }
}

/// One request waiting in a tenant's queue.
struct StreamEntry: Sendable {
    let id: UInt64
    let payload: StreamPayload
    let idempotency: IdempotencyKey?
    let receivedAt: Date
    let received: ContinuousClock.Instant
}
