import Foundation

/// ``StreamControl``: the actions the monitor and the admin API send, and what the API shows.
extension StreamManager {
    /// The tenant's instances in this process.
    public func instances(tenant: String) async throws -> StreamInstancesState {
        stream(for: try await definition(tenant)).instancesState
    }

    public func apply(_ action: StreamAction, tenant: String, source: String, cause: StreamActionCause? = nil) async throws -> StreamActionRecord {
        let stream = self.stream(for: try await definition(tenant))
        let (outcome, message, missing) = stream.apply(action)
        if missing > 0 { start(missing, of: stream) }
        var record = StreamActionRecord(id: nil, tenant: tenant, action: action.name, parameters: action.parameters, source: source,
                                        outcome: outcome, message: message, state: stream.instancesState, instanceID: instanceID, at: Date(),
                                        cause: cause)
        metrics.action(tenant: tenant, action: action.name, source: source, outcome: outcome)
        logger.notice("stream action", metadata: ["tenant": "\(tenant)", "action": "\(action.name)", "source": "\(source)",
                                                  "outcome": "\(outcome)", "desired": "\(record.state.desired)"])
        record.id = try await StreamActionLog(pool: pool).append(record)
        return record
    }

    /// The action log, newest first.
    public func actions(tenant: String?, limit: Int) async throws -> [StreamActionRecord] {
        try await StreamActionLog(pool: pool).list(tenant: tenant, limit: limit)
    }
}
