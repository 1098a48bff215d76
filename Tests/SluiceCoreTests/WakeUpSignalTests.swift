import Testing
@testable import SluiceCore

@Suite struct WakeUpSignalTests {
    private let clock = ContinuousClock()

    @Test func aSignalSentBeforeTheWaitIsKeptForIt() async {
        let wakeUp = WakeUpSignal()
        wakeUp.signal()
        wakeUp.signal()
        #expect(await clock.measure { await wakeUp.wait(timeout: .seconds(60)) } < .seconds(10))
        // Signals coalesce: both were taken by that one wait.
        #expect(await clock.measure { await wakeUp.wait(timeout: .milliseconds(50)) } >= .milliseconds(50))
    }

    @Test func aWaitingTaskIsWoken() async {
        let wakeUp = WakeUpSignal()
        let waiter = Task { await clock.measure { await wakeUp.wait(timeout: .seconds(60)) } }
        try? await Task.sleep(for: .milliseconds(50))
        wakeUp.signal()
        #expect(await waiter.value < .seconds(10))
    }

    @Test func aCancelledWaiterReturnsAndLeavesTheNextSignalToOthers() async {
        let wakeUp = WakeUpSignal()
        let waiter = Task { await clock.measure { await wakeUp.wait(timeout: .seconds(60)) } }
        try? await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        #expect(await waiter.value < .seconds(10))
        wakeUp.signal()
        #expect(await clock.measure { await wakeUp.wait(timeout: .seconds(60)) } < .seconds(10))
    }
}
