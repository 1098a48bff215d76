import SluiceCore
import SluiceHTTP

extension ServiceError {
    /// The HTTP answer for a domain failure.
    var httpError: HTTPError {
        let status: Int
        switch kind {
        case .invalid: status = 400
        case .unauthorized: status = 401
        case .notFound: status = 404
        case .conflict: status = 409
        case .tooLarge: status = 413
        case .unsupportedType: status = 415
        case .unprocessable: status = 422
        case .rateLimited: status = 429
        case .insufficientStorage: status = 507
        case .unavailable: status = 503
        }
        var headers: HTTPHeaders = [:]
        if let retryAfter = retryAfterSeconds { headers.add("Retry-After", String(retryAfter)) }
        return HTTPError(status: status, code: code, message: message, details: details, headers: headers)
    }
}

/// Runs a handler as client work (it cannot take the store connections reserved for the service's own
/// work), turning domain errors and store outages into their HTTP answers.
func answering(_ body: () async throws -> HTTPResponse) async throws -> HTTPResponse {
    try await asClientWork {
        do {
            return try await body()
        } catch let error as ServiceError {
            return error.httpError.response
        } catch {
            guard let answer = ServiceError.storeUnavailable(error) ?? ServiceError.unstorableValue(error) else { throw error }
            return answer.httpError.response
        }
    }
}
