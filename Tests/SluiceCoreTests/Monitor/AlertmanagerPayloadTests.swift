import Foundation
@testable import SluiceCore
import Testing

/// The outgoing payload of a group: status, common labels and annotations, and `max_alerts` truncation as
/// Alertmanager does them.
@Suite struct AlertmanagerPayloadTests {
    private func alert(_ tenant: String, _ status: AlertNotification.Status, note: String) -> AlertNotification {
        AlertNotification(status: status, labels: ["alertname": "A", "tenant": tenant, "severity": "page"], annotations: ["note": note],
                          startsAt: Date(timeIntervalSince1970: 0), endsAt: status == .resolved ? Date(timeIntervalSince1970: 60) : nil,
                          value: nil, source: "alert:A", actions: [])
    }

    @Test func groupsTruncateAndKeepWhatIsCommon() {
        let alerts = [alert("a", .resolved, note: "same"), alert("b", .firing, note: "same"), alert("c", .resolved, note: "other")]
        let payload = AlertmanagerPayload.outgoing(alerts, receiver: "r", groupLabels: ["alertname": "A"], groupKey: "{}:{alertname=\"A\"}",
                                                   externalURL: "http://x/", maxAlerts: 2)
        #expect(payload.status == "firing", "a group fires while any of its alerts does")
        #expect(payload.alerts.count == 2 && payload.truncatedAlerts == 1)
        #expect(payload.commonLabels == ["alertname": "A", "severity": "page"])
        #expect(payload.commonAnnotations == [:])
        #expect(payload.alerts.map(\.endsAt) == ["1970-01-01T00:01:00.000Z", AlertmanagerPayload.zeroTime])
        #expect(payload.alerts[0].generatorURL == "http://x/api/v1/alerts/history?limit=100&tenant=a")
        let all = AlertmanagerPayload.outgoing(alerts, receiver: "r", groupLabels: [:], groupKey: "{}:{}", externalURL: "http://x", maxAlerts: 0)
        #expect(all.alerts.count == 3 && all.truncatedAlerts == 0)
        let resolved = AlertmanagerPayload.outgoing([alerts[0]], receiver: "r", groupLabels: [:], groupKey: "{}:{}", externalURL: "", maxAlerts: 0)
        #expect(resolved.status == "resolved")
    }

    @Test func backoffIsJitteredCappedAndHonoursRetryAfter() {
        var policy = RetryPolicy()
        policy.initialBackoff = .seconds(1)
        policy.maximumBackoff = .seconds(8)
        var random = SystemRandomNumberGenerator()
        for attempt in 1...10 {
            let delay = policy.delay(after: attempt, retryAfter: nil, random: &random)
            #expect(delay >= .zero && delay <= .seconds(min(8, 1 << (attempt - 1))))
        }
        #expect(policy.delay(after: 1, retryAfter: .seconds(20), random: &random) == .seconds(20))
        #expect(RetryPolicy.retryAfter("7") == .seconds(7) && RetryPolicy.retryAfter("Wed, 21 Oct 2015 07:28:00 GMT") == nil)
        #expect(RetryPolicy.isRetryable(status: 503) && RetryPolicy.isRetryable(status: 429) && !RetryPolicy.isRetryable(status: 404))
        #expect(RetryPolicy.isRetryable(OutboundError(.timedOut, "")) && !RetryPolicy.isRetryable(OutboundError(.tlsFailed, "")))
    }
}
