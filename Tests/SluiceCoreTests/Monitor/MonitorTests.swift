import Foundation
import Logging
@testable import SluiceCore
import SluiceMetrics
import SluiceStore
import SluiceTestSupport
import Synchronization
import Testing

/// A receiver that keeps what it is given: each alert at once (as the stream manager), or groups.
final class RecordingReceiver: NotificationReceiver {
    let name: String
    let integration = "test"
    let immediate: Bool
    let sendResolved: Bool
    private let received = Mutex<[AlertGroup]>([])
    /// Whether deliveries fail (as a receiver that gave up after its retries).
    let failing = Atomic<Bool>(false)

    init(name: String = MonitorConfiguration.streamManagerReceiver, immediate: Bool = true, sendResolved: Bool = true) {
        self.name = name
        self.immediate = immediate
        self.sendResolved = sendResolved
    }

    /// The alerts of every group given, in order.
    var notifications: [AlertNotification] { received.withLock { $0.flatMap(\.alerts) } }
    var groups: [AlertGroup] { received.withLock { $0 } }

    func deliver(_ group: AlertGroup, whenDone done: @escaping @Sendable (Bool) async -> Void) async throws -> NotificationReceipt {
        received.withLock { $0.append(group) }
        await done(!failing.load(ordering: .relaxed))
        return .delivered
    }

    func stop() {}
}

/// The monitor over synthetic reports in real partitions, on a simulated clock: threshold rules with `for`
/// and `keep_firing_for`, no data, scopes, persisted state across restarts, one evaluating process, reloads.
@Suite struct MonitorTests {
    private let ten = MonitorTestData.tenOClock

    private func at(_ minutes: Double) -> Date { ten.addingTimeInterval(minutes * 60) }

    private static let rejectRule = """
        rules:
          - name: RejectsHigh
            kind: threshold
            series: reject_ratio
            window: 1m
            op: ">"
            threshold: 0.2
            for: 1m
            keep_firing_for: 1m
            scope: {tenant: tenant-a}
            labels: {severity: ticket}
            annotations: {summary: "{{ .tenant }} rejects {{ .value }}"}
            actions:
              firing: [{action: scale_up, by: 2}]
              resolved: [{action: scale_down, by: 2}]
        """

    @Test func forAndKeepFiringForFireAndResolveAtTheExpectedTimes() async throws {
        let pool = try await MonitorTestData.migratedPool()
        try await MonitorTestData.tenants(pool, ["tenant-a": "gold", "tenant-b": "silver"])
        try await MonitorTestData.seedRejects(pool)
        try await MonitorTestData.seedRejects(pool, tenant: "tenant-b")
        let (monitor, receiver, _) = try MonitorTestData.monitor(pool, rules: Self.rejectRule)
        var timeline: [String] = []
        for minutes in stride(from: 0.5, through: 6.5, by: 0.5) {
            let evaluation = try await monitor.evaluate(at: at(minutes))
            for transition in evaluation.transitions {
                #expect(transition.tenant == "tenant-a", "tenant-b is out of scope")
                timeline.append("\(minutes):\(transition.transition)")
            }
        }
        // A window of complete minutes: pending at 10:01 (the minute 10:00), firing a minute later; the condition stops
        // holding at 10:04 (the minute 10:03 has no rejects) and the alert keeps firing a minute more.
        #expect(timeline == ["1.0:pending", "2.0:firing", "5.0:resolved"])
        let notifications = receiver.notifications
        #expect(notifications.map(\.status) == [.firing, .resolved])
        #expect(notifications.first?.actions == [.scaleUp(by: 2)] && notifications.last?.actions == [.scaleDown(by: 2)])
        #expect(notifications.first?.labels == ["alertname": "RejectsHigh", "tenant": "tenant-a", "severity": "ticket"])
        #expect(notifications.first?.annotations["summary"] == "tenant-a rejects 0.5")
        #expect(notifications.first?.source == "alert:RejectsHigh" && notifications.first?.startsAt == at(1))
        #expect(notifications.last?.endsAt == at(5))
        let history = try await monitor.store.history(from: ten, to: at(10), tenant: "tenant-a", limit: 10)
        #expect(history.map(\.state) == ["resolved", "firing", "pending"])
        #expect(try await monitor.store.active().isEmpty)
    }

    @Test func aRestartKeepsFiringAlertsAndNotifiesNothingTwice() async throws {
        let pool = try await MonitorTestData.migratedPool()
        try await MonitorTestData.tenants(pool, ["tenant-a": "gold"])
        try await MonitorTestData.seedRejects(pool)
        let (first, firstReceiver, directory) = try MonitorTestData.monitor(pool, rules: Self.rejectRule)
        for minutes in [1.0, 2.0] { try await first.evaluate(at: at(minutes)) }
        #expect(firstReceiver.notifications.map(\.status) == [.firing])

        // Another process (a new pool, a new monitor) takes over where the first left off.
        let secondPool = PostgresConnectionPool(connectionString: pool.connectionString)
        let secondReceiver = RecordingReceiver()
        let second = try MonitorTestData.monitor(secondPool, directory: directory, receiver: secondReceiver)
        let evaluation = try await second.evaluate(at: at(2.5))
        #expect(evaluation.transitions.isEmpty && evaluation.notified == 0)
        #expect(evaluation.active.map(\.state) == [.firing] && evaluation.active.first?.activeAt == at(1))
        #expect(secondReceiver.notifications.isEmpty)

        // A process that stopped between storing a transition and notifying: the next evaluation sends it, once.
        try await pool.execute("UPDATE sluice.alert_history SET notified_at = NULL WHERE state = 'firing'")
        try await second.evaluate(at: at(3))
        try await second.evaluate(at: at(3.5))
        #expect(secondReceiver.notifications.map(\.status) == [.firing])
        try await second.evaluate(at: at(4.5))
        try await second.evaluate(at: at(5.5))
        #expect(secondReceiver.notifications.map(\.status) == [.firing, .resolved])
        await secondPool.close()
    }

    @Test func oneProcessEvaluatesAtATimeAndAnotherTakesOver() async throws {
        let pool = try await MonitorTestData.migratedPool()
        let (first, _, _) = try MonitorTestData.monitor(pool, rules: Self.rejectRule)
        let secondPool = PostgresConnectionPool(connectionString: pool.connectionString)
        let (second, _, _) = try MonitorTestData.monitor(secondPool, rules: Self.rejectRule)
        #expect(await first.lead())
        #expect(await !second.lead())
        #expect(await first.lead(), "the leader keeps the lead")
        #expect(await !second.lead())
        // The leader's connection goes, as when its process dies: the other takes over, and an evaluation the first
        // was still running writes nothing.
        let staleFence = try #require(first.fence)
        try await MonitorTestData.tenants(pool, ["tenant-a": "gold"])
        try await MonitorTestData.seedRejects(pool)
        await first.resign()
        #expect(await second.lead())
        await #expect(throws: ServiceError.self) { try await first.evaluate(at: at(2), fence: staleFence) }
        #expect(try await first.store.active().isEmpty)
        #expect(second.fence != nil)
        try await second.evaluate(at: at(1), fence: second.fence)
        #expect(try await second.store.active().count == 1)
        #expect(await !first.lead())
        await second.resign()
        await secondPool.close()
    }

    @Test func noDataScopesAndSelectors() async throws {
        let pool = try await MonitorTestData.migratedPool()
        try await MonitorTestData.tenants(pool, ["quiet-gold": "gold", "quiet-silver": "silver"])
        let (monitor, _, _) = try MonitorTestData.monitor(pool, rules: """
            rules:
              - {name: QuietAlerting, kind: threshold, series: availability, window: 5m, op: "<", threshold: 0.9, no_data: alerting,
                 scope: {selector: {tier: gold}}}
              - {name: QuietOk, kind: threshold, series: availability, window: 5m, op: "<", threshold: 0.9, no_data: ok}
              - {name: RateZero, kind: threshold, series: ingest_rows_per_second, window: 5m, op: "==", threshold: 0,
                 scope: {tenants: [quiet-silver, missing]}}
            """)
        let evaluation = try await monitor.evaluate(at: at(1))
        let firing = Set(evaluation.active.filter { $0.state == .firing }.map { "\($0.rule)/\($0.tenant ?? "")" })
        #expect(firing == ["QuietAlerting/quiet-gold", "RateZero/quiet-silver"])
    }

    @Test func aBadRuleFileIsRefusedAndTheOldRulesKeepRunning() async throws {
        let pool = try await MonitorTestData.migratedPool()
        try await MonitorTestData.tenants(pool, ["tenant-a": "gold"])
        try await MonitorTestData.seedRejects(pool)
        let registry = MetricsRegistry()
        let (monitor, receiver, directory) = try MonitorTestData.monitor(pool, rules: Self.rejectRule, registry: registry)
        try "rules: [{name: Broken, kind: threshold}]\n".write(toFile: directory + "/rules/rules.yaml", atomically: true, encoding: .utf8)
        do {
            try monitor.reload()
            Issue.record("a bad rule file was loaded")
        } catch {
            #expect(error.code == "invalid_rules" && error.details.contains { $0.contains("rules[0].series: is required") })
        }
        #expect(monitor.rules.rules.map(\.name) == ["RejectsHigh"])
        #expect(String(decoding: registry.render(format: .prometheusText), as: UTF8.self).contains("sluice_rules_last_reload_success 0"))
        for minutes in [1.0, 2.0] { try await monitor.evaluate(at: at(minutes)) }
        #expect(receiver.notifications.map(\.name) == ["RejectsHigh"])
    }

    @Test func silencesAndInhibitionMuteWhatTheyShouldAndNothingElse() async throws {
        let pool = try await MonitorTestData.migratedPool()
        try await MonitorTestData.tenants(pool, ["tenant-a": "gold", "tenant-b": "gold", "tenant-c": "gold"])
        for tenant in ["tenant-a", "tenant-b", "tenant-c"] { try await MonitorTestData.seedRejects(pool, tenant: tenant) }
        let registry = MetricsRegistry()
        let (monitor, receiver, _) = try MonitorTestData.monitor(pool, rules: """
            rules:
              - {name: Page, kind: threshold, series: reject_ratio, window: 1m, op: ">", threshold: 0.2, labels: {severity: page},
                 scope: {tenant: tenant-a}}
              - {name: Ticket, kind: threshold, series: reject_ratio, window: 1m, op: ">", threshold: 0.2, labels: {severity: ticket}}
            """, notifications: """
            inhibit_rules:
              - {source_matchers: ['severity="page"'], target_matchers: ['severity="ticket"'], equal: [tenant]}
            """, registry: registry)
        // tenant-c is silenced; tenant-a's ticket is inhibited by its page; tenant-b's ticket goes out.
        _ = try await monitor.silences.create(matchers: ["tenant=\"tenant-c\""], startsAt: nil, endsAt: Date().addingTimeInterval(3600),
                                              comment: "maintenance", createdBy: "test")
        try await monitor.evaluate(at: at(1))
        let sent = Set(receiver.notifications.map { "\($0.name)/\($0.tenant ?? "")" })
        #expect(sent == ["Page/tenant-a", "Ticket/tenant-b"])
        let metrics = String(decoding: registry.render(format: .prometheusText), as: UTF8.self)
        #expect(metrics.contains("sluice_notifications_muted_total{reason=\"silence\"} 1"), "\(metrics)")
        #expect(metrics.contains("sluice_notifications_muted_total{reason=\"inhibition\"} 1"))
        // An expired silence mutes nothing more: tenant-c's resolution goes out.
        let silence = try #require(try await monitor.silences.list().first)
        try await monitor.silences.expire(silence.id)
        #expect(try await monitor.silences.list().first?.state(at: Date()) == "expired", "kept as history")
        try await monitor.evaluate(at: at(4))
        #expect(receiver.notifications.contains { $0.tenant == "tenant-c" && $0.status == .resolved })
        #expect(receiver.notifications.contains { $0.name == "Ticket" && $0.tenant == "tenant-a" && $0.status == .resolved },
                "resolutions are not inhibited")
    }
}
