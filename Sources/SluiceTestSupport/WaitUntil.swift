/// Waits until `condition` holds, looking every `interval`; throws naming `what` once `timeout` has passed.
/// Tests wait on the condition they check, with a deadline generous for a loaded two-core machine.
public func waitUntil(_ what: String, timeout: Duration = .seconds(60), interval: Duration = .milliseconds(10),
                      _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw TestClientError("timed out waiting until \(what)") }
        try await Task.sleep(for: interval)
    }
}
