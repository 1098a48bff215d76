import Foundation
import SluiceCore
import SluiceHTTP
import SluiceMetrics

/// Checks `Authorization: Bearer …`: the admin token for platform operations, a tenant's API key for
/// its own resources. A valid key of another tenant gets the same 404 as a tenant that does not
/// exist, so keys never reveal which tenants exist.
///
/// Failed authentications are limited per client address (a burst of `failureBurst`, then
/// `failuresPerSecond`): past that, a token the key cache does not know as valid (or as recently valid)
/// is answered `429 too_many_failed_authentications` without a store query, so guessing keys costs the
/// store nothing and gains nothing, while clients with valid keys behind the same address still pass.
public struct Authenticator: Sendable {
    /// The failed-authentication limit per client address.
    public struct Configuration: Sendable {
        public var failureBurst: Double
        public var failuresPerSecond: Double

        public init(failureBurst: Double = 20, failuresPerSecond: Double = 1) {
            self.failureBurst = failureBurst
            self.failuresPerSecond = failuresPerSecond
        }
    }

    private let adminToken: String
    private let tenants: TenantService
    private let configuration: Configuration
    private let failures = RateLimiter()
    private let failureCount: CounterFamily

    public init(adminToken: String, tenants: TenantService, configuration: Configuration = .init(), registry: MetricsRegistry) {
        self.adminToken = adminToken
        self.tenants = tenants
        self.configuration = configuration
        failureCount = registry.counter(
            name: "sluice_http_authentication_failures_total",
            help: "Requests refused for their credentials: none sent (missing), wrong or unknown (invalid), or refused "
                + "without a lookup because their address failed too often (throttled).",
            labelNames: ["reason"])
        for reason in ["missing", "invalid", "throttled"] { _ = failureCount.labels(reason) }
    }

    /// Succeeds for the admin token only.
    func requireAdmin(_ request: HTTPRequest) throws {
        guard let token = Self.bearer(request) else { throw missing() }
        guard APIKey.constantTimeEquals(token, adminToken) else {
            try admitAttempt(request)
            recordFailure(request)
            throw HTTPError(status: 403, code: "forbidden", message: "this operation needs the admin token")
        }
    }

    /// Succeeds for the admin token (for a tenant that exists) or a key of `tenant`.
    func requireTenant(_ request: HTTPRequest, _ tenant: String) async throws {
        guard let token = Self.bearer(request) else { throw missing() }
        if APIKey.constantTimeEquals(token, adminToken) {
            _ = try await tenants.get(tenant)
            return
        }
        let owner: String?
        switch tenants.cachedAnswer(forKey: token) {
        case .known(let tenant?): owner = tenant
        case .recentlyValid: owner = try await tenants.tenant(forKey: token)
        case .known(nil), .unknown:
            try admitAttempt(request)
            owner = try await tenants.tenant(forKey: token)
        }
        guard let owner else {
            recordFailure(request)
            throw HTTPError(status: 401, code: "invalid_api_key", message: "the API key is not valid",
                            headers: ["WWW-Authenticate": "Bearer"])
        }
        guard owner == tenant else { throw ServiceError.tenantNotFound(tenant).httpError }
    }

    /// Throws `429` when the client's address has used up its failed attempts.
    private func admitAttempt(_ request: HTTPRequest) throws {
        guard let wait = failures.admit(key: request.remoteAddress ?? "", rate: configuration.failuresPerSecond,
                                        burst: configuration.failureBurst) else {
            return
        }
        let seconds = max(1, Int(wait.secondsValue.rounded(.up)))
        failureCount.labels("throttled").increment()
        throw HTTPError(status: 429, code: "too_many_failed_authentications",
                        message: "too many failed authentications from this address; retry in \(seconds) s",
                        headers: ["Retry-After": String(seconds)])
    }

    private func recordFailure(_ request: HTTPRequest) {
        failureCount.labels("invalid").increment()
        failures.consume(key: request.remoteAddress ?? "", bytes: 1)
    }

    private func missing() -> HTTPError {
        failureCount.labels("missing").increment()
        return HTTPError(status: 401, code: "unauthorized", message: "send Authorization: Bearer <API key or admin token>",
                         headers: ["WWW-Authenticate": "Bearer"])
    }

    private static func bearer(_ request: HTTPRequest) -> String? {
        guard let header = request.headers["Authorization"] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }
}
