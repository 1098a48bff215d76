import Foundation
@testable import SluiceCore
import SluiceStore
import SluiceTestSupport
import Testing

/// Alertmanager's grouping over a real store, on a simulated clock: `group_wait` batches a group's alerts,
/// `group_interval` spaces its updates, `repeat_interval` its reminders, all across a restart; silences mute
/// grouped alerts until they end; `send_resolved`; route keys and group keys as Alertmanager writes them.
@Suite struct NotificationGroupTests {
    private let ten = MonitorTestData.tenOClock

    private func at(_ minutes: Double) -> Date { ten.addingTimeInterval(minutes * 60) }

    /// Fires for each tenant from the first evaluation (rejects of 50 % in minutes 0–2), resolves at 4.
    private static let rule = """
        rules:
          - {name: RejectsHigh, kind: threshold, series: reject_ratio, window: 1m, op: ">", threshold: 0.2, labels: {severity: ticket}}
        """

    private static func notifications(_ grouping: String) -> String {
        """
        receivers: [{name: team}]
        route: {receiver: team, \(grouping)}
        """
    }

    /// A monitor whose `team` receiver is grouped, over three tenants' rejects.
    private func setUp(_ grouping: String, sendResolved: Bool = true, tenants: [String] = ["tenant-a", "tenant-b", "tenant-c"])
        async throws -> (PostgresConnectionPool, Monitor, RecordingReceiver, String) {
        let pool = try await MonitorTestData.migratedPool()
        try await MonitorTestData.tenants(pool, Dictionary(uniqueKeysWithValues: tenants.map { ($0, "gold") }))
        for tenant in tenants { try await MonitorTestData.seedRejects(pool, tenant: tenant) }
        let team = RecordingReceiver(name: "team", immediate: false, sendResolved: sendResolved)
        let (monitor, _, directory) = try MonitorTestData.monitor(pool, rules: Self.rule, notifications: Self.notifications(grouping),
                                                                  receiver: team)
        return (pool, monitor, team, directory)
    }

    @Test func groupWaitBatchesAGroupsAlertsAndGroupIntervalSpacesItsUpdates() async throws {
        let (pool, monitor, team, _) = try await setUp("group_by: [alertname], group_wait: 30s, group_interval: 5m, repeat_interval: 4h")
        try await monitor.evaluate(at: at(1))
        #expect(team.groups.isEmpty, "the group waits for group_wait")
        #expect(try await monitor.flush(at: at(1).addingTimeInterval(29)) == 0)
        #expect(try await monitor.flush(at: at(1).addingTimeInterval(30)) == 1)
        let first = try #require(team.groups.first)
        #expect(first.key == "{}:{alertname=\"RejectsHigh\"}" && first.labels == ["alertname": "RejectsHigh"])
        #expect(Set(first.alerts.compactMap(\.tenant)) == ["tenant-a", "tenant-b", "tenant-c"])
        #expect(first.alerts.allSatisfy { $0.status == .firing } && first.alerts.count == 3)
        // Nothing changed: no update at the next group interval, nor until the repeat interval.
        try await monitor.evaluate(at: at(2))
        #expect(try await monitor.flush(at: at(6.5)) == 0)
        // All three resolve (minute 3 has no rejects); the next group interval sends the resolutions together.
        try await monitor.evaluate(at: at(4))
        #expect(team.groups.count == 1, "resolutions wait for the group interval")
        #expect(try await monitor.flush(at: at(11.5)) == 1)
        let resolved = try #require(team.groups.last)
        #expect(resolved.status == .resolved && resolved.alerts.count == 3 && resolved.alerts.allSatisfy { $0.endsAt != nil })
        #expect(try await pool.query("SELECT count(*) AS n FROM sluice.notification_groups").first?.decode(Int.self, "n") == 0,
                "a group whose alerts all resolved and were notified is gone")
        await pool.close()
    }

    @Test func aRestartNeitherForgetsAPendingGroupNorRepeatsWithinTheRepeatInterval() async throws {
        let grouping = "group_by: [tenant], group_wait: 30s, group_interval: 1m, repeat_interval: 1h"
        let (pool, first, firstTeam, directory) = try await setUp(grouping, tenants: ["tenant-a"])
        try await first.evaluate(at: at(1))
        #expect(firstTeam.groups.isEmpty)
        // The process stops while the group waits; the next one flushes it.
        let secondTeam = RecordingReceiver(name: "team", immediate: false)
        let second = try MonitorTestData.monitor(pool, directory: directory, receiver: secondTeam)
        #expect(try await second.flush(at: at(1).addingTimeInterval(30)) == 1)
        #expect(secondTeam.groups.map(\.key) == ["{}:{tenant=\"tenant-a\"}"])
        // Another restart: the group's last notification is remembered, nothing is sent again within the hour…
        let thirdTeam = RecordingReceiver(name: "team", immediate: false)
        let third = try MonitorTestData.monitor(pool, directory: directory, receiver: thirdTeam)
        try await third.evaluate(at: at(2))
        for minutes in stride(from: 3.0, through: 61.0, by: 2) { try await third.flush(at: at(minutes)) }
        #expect(thirdTeam.groups.isEmpty, "no repeat within repeat_interval across restarts")
        // …and after it the still-firing alert is notified again.
        #expect(try await third.flush(at: at(92)) == 1)
        #expect(thirdTeam.groups.first?.alerts.map(\.status) == [.firing])
        await pool.close()
    }

    @Test func aSilencedGroupedAlertIsNotifiedWhenItsSilenceEndsAndNothingElseIsMuted() async throws {
        let (pool, monitor, team, _) = try await setUp("group_by: [tenant], group_wait: 0s, group_interval: 1m",
                                                       tenants: ["tenant-a", "tenant-b"])
        _ = try await monitor.silences.create(matchers: ["tenant=\"tenant-a\""], startsAt: nil, endsAt: Date().addingTimeInterval(3600),
                                              comment: "maintenance", createdBy: "test")
        try await monitor.evaluate(at: at(1))
        #expect(team.groups.map(\.labels) == [["tenant": "tenant-b"]], "only the silenced tenant's group is held back")
        #expect(try await monitor.flush(at: at(2)) == 0, "still silenced")
        let silence = try #require(try await monitor.silences.list().first)
        try await monitor.silences.expire(silence.id)
        #expect(try await monitor.flush(at: at(3)) == 1)
        #expect(team.groups.last?.labels == ["tenant": "tenant-a"] && team.groups.last?.status == .firing)
        await pool.close()
    }

    @Test func aReceiverThatDoesNotSendResolvedIsNotToldOfResolutions() async throws {
        let (pool, monitor, team, _) = try await setUp("group_by: [tenant], group_wait: 0s, group_interval: 1m", sendResolved: false,
                                                       tenants: ["tenant-a"])
        try await monitor.evaluate(at: at(1))
        try await monitor.evaluate(at: at(4))
        try await monitor.flush(at: at(6))
        #expect(team.groups.flatMap(\.alerts).map(\.status) == [.firing])
        #expect(try await pool.query("SELECT count(*) AS n FROM sluice.notification_groups").first?.decode(Int.self, "n") == 0)
        await pool.close()
    }

    @Test func aNotificationNotDeliveredIsSentAgainAtTheNextFlushAndADeliveredOneIsNot() async throws {
        let (pool, monitor, team, _) = try await setUp("group_by: [tenant], group_wait: 0s, group_interval: 1m", tenants: ["tenant-a"])
        team.failing.store(true, ordering: .relaxed)
        try await monitor.evaluate(at: at(1))
        #expect(team.groups.count == 1)
        #expect(try await monitor.flush(at: at(1.5)) == 0, "not due before the group interval")
        team.failing.store(false, ordering: .relaxed)
        #expect(try await monitor.flush(at: at(2)) == 1, "the undelivered notification is sent again")
        #expect(try await monitor.flush(at: at(3)) == 0, "a delivered one is not")
        #expect(team.groups.map(\.status) == [.firing, .firing])
        await pool.close()
    }

    @Test func aProcessThatLostTheLeadSendsNothing() async throws {
        let (pool, monitor, team, directory) = try await setUp("group_by: [tenant], group_wait: 30s", tenants: ["tenant-a"])
        try await monitor.evaluate(at: at(1))
        let other = PostgresConnectionPool(connectionString: pool.connectionString)
        let rival = try MonitorTestData.monitor(other, directory: directory, receiver: RecordingReceiver(name: "team", immediate: false))
        #expect(await rival.lead())
        let stale = try #require(rival.fence)
        await rival.resign()
        // The rival's lock is gone with its resignation: its fence no longer leads, and its flush sends nothing.
        await #expect(throws: ServiceError.self) { try await rival.flush(at: at(2), fence: stale) }
        #expect(team.groups.isEmpty)
        #expect(try await monitor.flush(at: at(2)) == 1, "the group is still due for the leader")
        await other.close()
        await pool.close()
    }

    @Test func aReloadThatRegroupsStillResolvesTheAlertsOfTheOldGroups() async throws {
        let (pool, monitor, team, directory) = try await setUp("group_by: [tenant], group_wait: 0s, group_interval: 1m", tenants: ["tenant-a"])
        try await monitor.evaluate(at: at(1))
        #expect(team.groups.map(\.key) == ["{}:{tenant=\"tenant-a\"}"])
        try Self.notifications("group_by: [alertname], group_wait: 0s, group_interval: 1m")
            .write(toFile: directory + "/notifications.yaml", atomically: true, encoding: .utf8)
        try monitor.reload()
        try await monitor.evaluate(at: at(4))
        try await monitor.flush(at: at(5))
        let resolved = team.groups.filter { $0.status == .resolved }
        #expect(resolved.map(\.key) == ["{}:{tenant=\"tenant-a\"}"], "the old group is told of the resolution, once")
        #expect(try await pool.query("SELECT count(*) AS n FROM sluice.notification_groups").first?.decode(Int.self, "n") == 0,
                "no group is left reminding of an alert that is over")
        await pool.close()
    }

    @Test func routesGroupAsAlertmanagerKeysThem() throws {
        let route = NotificationRoute(receiver: "default", routes: [
            NotificationRoute(receiver: "pager", matchers: [try #require(LabelMatcher(#"severity="page""#))], continue: true,
                              grouping: RouteGrouping(by: ["tenant"], wait: 10)),
            NotificationRoute(receiver: nil, matchers: [try #require(LabelMatcher(#"team=~"ingest|stream""#))],
                              grouping: RouteGrouping(by: ["..."], repeatInterval: 60)),
        ], grouping: RouteGrouping(by: ["alertname"], interval: 120))
        let labels = ["alertname": "Burn", "severity": "page", "tenant": "a\"b", "team": "ingest"]
        let destinations = route.destinations(for: labels)
        #expect(destinations.map(\.receiver) == ["pager", "default"])
        #expect(destinations[0].group(of: labels).key == #"{}/{severity="page"}:{tenant="a\"b"}"#)
        #expect(destinations[0].grouping == RouteGrouping(by: ["tenant"], wait: 10, interval: 120, repeatInterval: 14_400))
        #expect(destinations[1].group(of: labels).key == #"{}/{team=~"ingest|stream"}:{alertname="Burn", severity="page", team="ingest", tenant="a\"b"}"#)
        #expect(destinations[1].grouping == RouteGrouping(by: ["..."], wait: 30, interval: 120, repeatInterval: 60))
        #expect(route.destinations(for: ["alertname": "Other"]).map { $0.group(of: ["alertname": "Other"]).key } == [#"{}:{alertname="Other"}"#])
    }
}
