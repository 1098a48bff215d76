import SluiceStore

/// Runs `body` as work for a client request: its store use waits rather than take the connections the
/// pool keeps for the service's own work (``PostgresConnectionPool/Configuration/reservedForServiceWork``).
public func asClientWork<T>(_ body: () async throws -> T) async rethrows -> T {
    try await PostgresConnectionPool.$isClientWork.withValue(true, operation: body)
}
