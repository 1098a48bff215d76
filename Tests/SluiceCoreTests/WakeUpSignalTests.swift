import Testing
@testable import SluiceCore

/// A wait that misses its signal lasts its whole (long) timeout; one that takes it returns far sooner, even
/// on a loaded machine whose cooperative threads are busy with other tests for seconds.
@Suite struct WakeUpSignalTests {
    private let clock = ContinuousClock()
    private let long = Duration.seconds(900)
    private let farSooner = Duration.seconds(300)

    @Test func aSignalSentBeforeTheWaitIsKeptForIt() async {
        let wakeUp = WakeUpSignal()
        wakeUp.signal()
        wakeUp.signal()
        #expect(await clock.measure { await wakeUp.wait(timeout: long) } < farSooner)
        // Signals coalesce: both were taken by that one wait.
        #expect(await clock.measure { await wakeUp.wait(timeout: .milliseconds(50)) } >= .milliseconds(50))
    }

    @Test func aWaitingTaskIsWoken() async {
        let wakeUp = WakeUpSignal()
        let waiter = Task { await clock.measure { await wakeUp.wait(timeout: long) } }
        try? await Task.sleep(for: .milliseconds(50))
        wakeUp.signal()
        #expect(await waiter.value < farSooner)
    }

    @Test func aCancelledWaiterReturnsAndLeavesTheNextSignalToOthers() async {
        let wakeUp = WakeUpSignal()
        let waiter = Task { await clock.measure { await wakeUp.wait(timeout: long) } }
        try? await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        #expect(await waiter.value < farSooner)
        wakeUp.signal()
        #expect(await clock.measure { await wakeUp.wait(timeout: long) } < farSooner)
    }
}
