import Foundation
@testable import SluiceCore
import Testing

/// The alert state machine: inactive → pending → firing → resolved, with `for` and `keep_firing_for`.
@Suite struct AlertStateTests {
    private let start = Date(timeIntervalSince1970: 1_800_000_000)

    /// Feeds `conditions` (one per 15 s evaluation) and returns the transitions.
    private func run(_ conditions: [Bool?], pendingFor: Int, keepFiringFor: Int) -> [String] {
        var alert: ActiveAlert?
        var transitions: [String] = []
        for (index, holds) in conditions.enumerated() {
            let time = start.addingTimeInterval(Double(index) * 15)
            let (next, transition) = ActiveAlert.next(alert, holds: holds, at: time, pendingFor: pendingFor, keepFiringFor: keepFiringFor) {
                ActiveAlert(rule: "R", fingerprint: "f", tenant: "t", labels: [:], annotations: [:], state: .pending, value: nil,
                            activeAt: time, firedAt: nil, keepFiringSince: nil, evaluatedAt: time)
            }
            alert = next
            transitions.append(transition.rawValue)
        }
        return transitions
    }

    @Test(arguments: [
        // Without `for`, the first evaluation that holds fires.
        ([true, true, false, false] as [Bool?], 0, 0, ["firing", "none", "resolved", "none"]),
        // `for: 30s`: pending, then firing once 30 s have passed since it became active.
        ([true, true, true, true, false], 30, 0, ["pending", "none", "firing", "none", "resolved"]),
        // Pending that stops holding goes inactive without having fired.
        ([true, false, true], 30, 0, ["pending", "inactive", "pending"]),
        // `keep_firing_for: 30s`: keeps firing while the condition held within the last 30 s.
        ([true, false, false, false, true, false], 0, 30, ["firing", "none", "none", "resolved", "firing", "none"]),
        // No data under keep_state (nil) changes nothing, firing or inactive.
        ([nil, true, nil, nil, false], 0, 0, ["none", "firing", "none", "none", "resolved"]),
    ])
    func transitions(conditions: [Bool?], pendingFor: Int, keepFiringFor: Int, expected: [String]) {
        #expect(run(conditions, pendingFor: pendingFor, keepFiringFor: keepFiringFor) == expected)
    }
}
