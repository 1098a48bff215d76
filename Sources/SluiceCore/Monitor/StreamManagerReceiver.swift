/// The receiver that closes the loop: a notification's stream actions (the rule's for its status, or an
/// inbound alert's `sluice_action`) applied through ``StreamControl`` and logged with the alert as cause.
public struct StreamManagerReceiver: NotificationReceiver {
    public let name = MonitorConfiguration.streamManagerReceiver
    public let integration = "stream_manager"
    public let immediate = true
    public let sendResolved = true
    private let control: any StreamControl

    public init(control: any StreamControl) {
        self.control = control
    }

    public func deliver(_ group: AlertGroup, whenDone done: @escaping @Sendable (Bool) async -> Void) async throws -> NotificationReceipt {
        for notification in group.alerts {
            guard let tenant = notification.tenant else { continue }
            let cause = StreamActionCause(alert: notification.name, status: notification.status.rawValue,
                                          fingerprint: notification.fingerprint, labels: notification.labels, value: notification.value)
            for action in notification.actions {
                _ = try await control.apply(action, tenant: tenant, source: notification.source, cause: cause)
            }
        }
        await done(true)
        return .delivered
    }

    public func stop() {}
}
