import Foundation
import Logging
import SluiceCommon
import SluiceStore
import Synchronization

/// The stream ingest monitor: evaluates the rules over the report time series every interval (in one
/// process at a time), keeps alert state in the store, and hands firing and resolved alerts to the
/// receivers the route tree picks, the stream manager first among them.
public final class Monitor: Sendable {
    public struct Configuration: Sendable {
        /// Between evaluations.
        public var interval: Duration = .seconds(15)
        /// The configuration directory holding `rules/` and `notifications.yaml`; none: no rules.
        public var directory: String?
        /// Between looks for notification groups due to flush.
        public var flushTick: Duration = .seconds(1)

        public init(interval: Duration = .seconds(15), directory: String? = nil) {
            self.interval = interval
            self.directory = directory
        }
    }

    let configuration: Configuration
    let pool: PostgresConnectionPool
    let tenants: TenantService
    let metrics: MonitorMetrics
    let logger: Logger
    public let store: AlertStore
    public let silences: SilenceStore
    let groups: NotificationGroups
    /// Groups (receiver and key) whose notification is queued or being sent: not flushed again until it is over.
    let inFlight = Mutex<Set<String>>([])
    let series: SeriesStore
    /// The receivers by name: those built in, and those of the configuration in force.
    let receivers: Mutex<[String: any NotificationReceiver]>
    private let builtIn: [String: any NotificationReceiver]
    /// The integrations the configured receivers were made from, to keep those a reload does not change.
    private let integrations = Mutex<[String: ReceiverIntegration]>([:])
    /// Makes the webhook and email receivers `notifications.yaml` names (their transports are the server's to give).
    private let makeReceiver: (@Sendable (ReceiverIntegration) -> any NotificationReceiver)?
    private let leadership: MonitorLeadership
    private let current = Mutex(MonitorConfiguration())
    /// The time evaluations run at: the wall clock, or a simulated one in tests.
    let now: @Sendable () -> Date

    public init(configuration: Configuration, pool: PostgresConnectionPool, tenants: TenantService, receivers: [any NotificationReceiver],
                makeReceiver: (@Sendable (ReceiverIntegration) -> any NotificationReceiver)? = nil,
                metrics: MonitorMetrics, logger: Logger, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.configuration = configuration
        self.pool = pool
        self.tenants = tenants
        self.metrics = metrics
        self.logger = logger
        self.now = clock
        builtIn = Dictionary(receivers.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.receivers = Mutex(builtIn)
        self.makeReceiver = makeReceiver
        store = AlertStore(pool: pool)
        silences = SilenceStore(pool: pool)
        groups = NotificationGroups(pool: pool)
        series = SeriesStore(pool: pool)
        leadership = MonitorLeadership(connectionString: pool.connectionString)
    }

    /// The rules and routes in force.
    public var rules: MonitorConfiguration { current.withLock { $0 } }

    /// Loads the configuration directory again. A configuration with any problem is refused whole (the
    /// rules in force stay) and thrown as `invalid_rules` with every problem.
    @discardableResult
    public func reload() throws(ServiceError) -> MonitorConfiguration {
        guard let directory = configuration.directory else {
            // No configuration directory: nothing to load, which is a success (no alert on a refused reload).
            metrics.reloaded(rules, at: Date().timeIntervalSince1970)
            return rules
        }
        do {
            let loaded = try MonitorConfiguration.load(directory: directory)
            current.withLock { $0 = loaded }
            replaceReceivers(loaded)
            metrics.reloaded(loaded, at: Date().timeIntervalSince1970)
            logger.info("monitor rules loaded", metadata: ["rules": "\(loaded.rules.count)", "directory": "\(directory)"])
            return loaded
        } catch {
            metrics.reloaded(nil, at: 0)
            logger.error("monitor rules refused; the previous ones stay", metadata: ["problems": "\(error.details)"])
            throw error
        }
    }

    /// The built-in receivers and those of `configuration`: a receiver whose settings did not change is kept
    /// (with its queue), one that changed or went is stopped.
    private func replaceReceivers(_ configuration: MonitorConfiguration) {
        let stopped = receivers.withLock { receivers in
            integrations.withLock { integrations in
                var next = builtIn
                var made: [String: ReceiverIntegration] = [:]
                for integration in configuration.integrations {
                    if integrations[integration.name] == integration, let kept = receivers[integration.name] {
                        next[integration.name] = kept
                    } else if let receiver = makeReceiver?(integration) {
                        next[integration.name] = receiver
                    } else {
                        continue
                    }
                    made[integration.name] = integration
                }
                let stopped = receivers.filter { name, receiver in next[name].map { $0 as AnyObject !== receiver as AnyObject } ?? true }
                receivers = next
                integrations = made
                return Array(stopped.values)
            }
        }
        for receiver in stopped { receiver.stop() }
    }

    /// ``reload()`` on a thread of its own: reading the files blocks, and must not on the cooperative pool.
    @discardableResult
    public func reloadOffThePool() async throws -> MonitorConfiguration {
        try await runOnDedicatedThread(name: "sluice-rules-reload") { try self.reload() }
    }

    /// Whether this process evaluates (taking the lead if no process has it).
    public func lead() async -> Bool {
        let leads = await leadership.acquire()
        metrics.leading(leads)
        return leads
    }

    /// The backend holding the lead's lock for this process, while it leads.
    var fence: Int32? { leadership.fence }

    /// Gives the lead up, for another process to take.
    public func resign() async {
        await leadership.resign()
        metrics.leading(false)
    }

    /// Evaluates every interval until cancelled, while this process leads (the others keep asking), and in
    /// between flushes the notification groups due.
    public func run(components: ComponentRegistry) async {
        let name = "monitor"
        components.setRunning(name, true)
        defer { components.setRunning(name, false) }
        // The first evaluation waits an interval too, so a start does not add to the start's own queries.
        var nextEvaluation = ContinuousClock.now + configuration.interval
        while !Task.isCancelled {
            try? await Task.sleep(until: min(nextEvaluation, .now + configuration.flushTick))
            if Task.isCancelled { break }
            do {
                guard ContinuousClock.now >= nextEvaluation else {
                    if let fence { try await flush(at: now(), fence: fence) }
                    continue
                }
                nextEvaluation = .now + configuration.interval
                // Without rules nothing is evaluated, unless alerts of rules since removed are left to resolve
                // or groups to flush.
                var needed = !rules.rules.isEmpty
                if !needed { needed = try await store.hasRuleAlerts() }
                if !needed { needed = try await groups.any() }
                if needed, await lead() {
                    try await evaluate(at: now(), fence: fence)
                } else {
                    await resign()
                }
            } catch {
                logger.warning("rule evaluation or notification failed", metadata: ["error": "\(error)"])
            }
        }
        await resign()
    }
}
