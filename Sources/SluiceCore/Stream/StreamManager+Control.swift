import Foundation

/// ``StreamControl``: the actions the monitor and the admin API send, and what the API shows.
extension StreamManager {
    /// The tenant's instances in this process.
    public func instances(tenant: String) async throws -> StreamInstancesState {
        stream(for: try await definition(tenant)).instancesState
    }

    public func apply(_ action: StreamAction, tenant: String, source: String, cause: StreamActionCause? = nil) async throws -> StreamActionRecord {
        let definition: TenantDefinition
        do {
            definition = try await self.definition(tenant)
        } catch let error as ServiceError where error.kind == .notFound && cause != nil {
            // An alert's action for a tenant deleted since: logged as failed, with its cause.
            return try await logFailure(action, tenant: tenant, source: source, cause: cause, message: error.message)
        }
        let stream = self.stream(for: definition)
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

    private func logFailure(_ action: StreamAction, tenant: String, source: String, cause: StreamActionCause?,
                            message: String) async throws -> StreamActionRecord {
        let none = StreamInstancesState(desired: 0, running: 0, min: 0, max: 0, startOnDemand: false, idleStopSeconds: 0, throttle: nil,
                                        instances: [])
        var record = StreamActionRecord(id: nil, tenant: tenant, action: action.name, parameters: action.parameters, source: source,
                                        outcome: "failed", message: message, state: none, instanceID: instanceID, at: Date(), cause: cause)
        logger.warning("stream action failed", metadata: ["tenant": "\(tenant)", "action": "\(action.name)", "source": "\(source)",
                                                         "error": "\(message)"])
        record.id = try await StreamActionLog(pool: pool).append(record)
        return record
    }

    /// The action log, newest first.
    public func actions(tenant: String?, limit: Int) async throws -> [StreamActionRecord] {
        try await StreamActionLog(pool: pool).list(tenant: tenant, limit: limit)
    }
}
