import Crypto
import Foundation
import Logging
import SluiceCommon
import SluiceStore
import Synchronization

/// The stream ingest manager: takes tenants' stream requests into bounded per-tenant queues, runs each
/// tenant's stream app instances, which group-commit the queued requests in micro-batches with the loader
/// the batch path uses, answers each request once its messages are durable, writes a report per window,
/// and applies the actions of ``StreamControl``.
public final class StreamManager: StreamControl, Sendable {
    /// Platform defaults; a tenant's `service_agreement.stream` overrides the queue and batch bounds.
    public struct Configuration: Sendable {
        /// Messages and bytes a tenant's queue holds at most.
        public var queueMessages = 20_000
        public var queueBytes = 32 << 20
        /// A micro-batch is committed once it holds this many messages or bytes, or after `linger`.
        public var batchMessages = 5_000
        public var batchBytes = 8 << 20
        public var linger: Duration = .milliseconds(5)
        /// One report per tenant and window.
        public var window: Duration = .seconds(10)
        /// The most one request may hold, as sent and inflated (`413 request_too_large`), and the largest
        /// inflated/compressed ratio of a gzip'd one.
        public var maximumRequestBytes = 8 << 20
        public var maximumInflationRatio = 200
        /// The most bytes of stream requests this process holds at once, being read or queued, over all
        /// tenants; beyond, requests get `429 backpressure` before their body is read further.
        public var memoryBudget = 256 << 20
        /// A request still queued after this long is answered `503 stream_timeout` (and not committed).
        public var acknowledgementTimeout: Duration = .seconds(30)
        /// How often instances waiting for work check whether they should stop.
        public var idleCheck: Duration = .seconds(1)
        /// How old a cached tenant definition may be.
        public var definitionMaximumAge: Duration = .seconds(2)
        /// Idempotency keys are kept at least this long.
        public var idempotencyRetention: Duration = .seconds(24 * 3600)
        /// How long an external stream app may take to answer a micro-batch (plus 10 ms a message) before it
        /// is taken for hung, killed and started again; until its first answer after a start, `appStartAllowance`
        /// more (a sandbox and an interpreter starting on a loaded machine).
        public var appAnswerTimeout: Duration = .seconds(10)
        public var appStartAllowance: Duration = .seconds(10)
        public init() {}
    }

    public static let componentName = "stream-manager"

    public let configuration: Configuration
    let pool: PostgresConnectionPool
    let tenants: TenantService
    let metrics: StreamMetrics
    let logger: Logger
    let instanceID: String
    private let committer: StreamCommitter
    private let runner: StreamAppRunner
    let streams = Mutex<[String: TenantStream]>([:])
    let definitions = Mutex<[String: (definition: TenantDefinition, read: ContinuousClock.Instant)]>([:])
    private let entryIDs = Atomic<UInt64>(0)
    private let starts: AsyncStream<(TenantStream, Int)>
    private let startRequests: AsyncStream<(TenantStream, Int)>.Continuation
    private let stopping = Atomic<Bool>(false)
    /// Bytes of stream requests held now (see ``Configuration/memoryBudget``).
    private let heldBytes = Atomic<Int>(0)

    /// `sandbox` and `staging` run tenants' external stream apps as the batch path runs its apps.
    public init(configuration: Configuration = Configuration(), pool: PostgresConnectionPool, tenants: TenantService,
                staging: StagingArea, sandbox: AppSandbox, metrics: StreamMetrics, logger: Logger, instanceID: String) {
        self.configuration = configuration
        self.pool = pool
        self.tenants = tenants
        self.metrics = metrics
        self.logger = logger
        self.instanceID = instanceID
        committer = StreamCommitter(pool: pool, instanceID: instanceID)
        runner = StreamAppRunner(staging: staging, sandbox: sandbox, metrics: metrics, logger: logger,
                                 answerTimeout: configuration.appAnswerTimeout, startAllowance: configuration.appStartAllowance)
        (starts, startRequests) = AsyncStream.makeStream()
    }

    // MARK: Requests

    /// Ingests one request's body: splits it into messages, and answers once they are committed, or with the
    /// first answer to its `Idempotency-Key`. Throws `ServiceError`s: `400 malformed_body`, `413`, `429`
    /// (nothing taken), `422 idempotency_key_reused`, `503` (nothing acknowledged).
    public func ingest(tenant: String, body: [UInt8], format: StreamPayload.Format, idempotencyKey: String?) async throws -> StreamAnswer {
        guard !stopping.load(ordering: .relaxed) else {
            throw ServiceError(.unavailable, "shutting_down", "Sluice is shutting down; retry", retryAfterSeconds: 1)
        }
        let definition = try await self.definition(tenant)
        let payload = try StreamPayload(body, format: format, definition: definition)
        let stream = self.stream(for: definition)
        guard payload.count <= stream.limits.maxMessages, payload.bytes <= stream.limits.maxBytes else {
            throw ServiceError(.tooLarge, "request_too_large",
                               "the request holds \(payload.count) messages and \(payload.bytes) bytes; the tenant's queue holds at most \(stream.limits.maxMessages) and \(stream.limits.maxBytes)")
        }
        let key = try idempotencyKey.map { key throws(ServiceError) in
            try IdempotencyKey(key, bodySHA256: SHA256.hash(data: body).map { String(format: "%02x", $0) }.joined())
        }
        // A key already committed is answered at once; one being committed is left to the commit, which waits for it.
        if let key, let earlier = try await pool.withConnection({ try StreamCommitter.replay(key, tenant: tenant, on: $0) }) {
            switch earlier {
            case .success(let answer): return answer
            case .failure(let error as ServiceError) where error.code == "idempotency_key_reused": throw error
            case .failure: break
            }
        }
        let entry = StreamEntry(id: entryIDs.add(1, ordering: .relaxed).newValue, payload: payload, idempotency: key,
                                receivedAt: Date(), received: .now)
        let timeout = Task { [configuration] in
            try await Task.sleep(for: configuration.acknowledgementTimeout)
            stream.withdraw(entry.id, failing: ServiceError(.unavailable, "stream_timeout",
                                                            "the request was not committed within \(configuration.acknowledgementTimeout); retry",
                                                            retryAfterSeconds: 1))
        }
        defer { timeout.cancel() }
        return try await stream.submit(entry) { [self] missing in start(missing, of: stream) }
    }

    /// Takes `bytes` of the process's stream memory budget for a request being read; throws `429
    /// backpressure` when it is spent. Give it back with ``releaseRequestBytes(_:)`` once the request is answered.
    public func reserveRequestBytes(_ bytes: Int, tenant: String) throws(ServiceError) {
        let held = heldBytes.add(bytes, ordering: .relaxed).newValue
        guard held > configuration.memoryBudget else { return }
        heldBytes.subtract(bytes, ordering: .relaxed)
        metrics.throttled(tenant: tenant, reason: TenantStream.Refusal.backpressure.rawValue)
        throw ServiceError(.rateLimited, TenantStream.Refusal.backpressure.rawValue,
                           "Sluice holds as many stream requests as its memory budget allows; retry later", retryAfterSeconds: 1)
    }

    public func releaseRequestBytes(_ bytes: Int) {
        heldBytes.subtract(bytes, ordering: .relaxed)
    }

    /// Records an answered request in the metrics.
    public func answered(tenant: String, status: Int, seconds: Double) {
        metrics.answered(tenant: tenant, status: status, seconds: seconds)
    }

    /// The tenant's definition, read again when the cached one is older than `definitionMaximumAge`.
    func definition(_ tenant: String) async throws -> TenantDefinition {
        if let cached = definitions.withLock({ $0[tenant] }), cached.read.duration(to: .now) < configuration.definitionMaximumAge {
            return cached.definition
        }
        let definition = try await tenants.get(tenant).definition
        definitions.withLock { $0[tenant] = (definition, .now) }
        streams.withLock { $0[tenant] }?.update(definition)
        return definition
    }

    func stream(for definition: TenantDefinition) -> TenantStream {
        streams.withLock { streams in
            if let stream = streams[definition.id] { return stream }
            let stream = TenantStream(definition: definition, defaults: configuration, metrics: metrics)
            streams[definition.id] = stream
            return stream
        }
    }

    // MARK: Instances

    func start(_ count: Int, of stream: TenantStream) {
        guard !stopping.load(ordering: .relaxed) else { return }
        let kind = stream.definition.effectiveStreamApp.kind.rawValue
        for id in stream.addInstances(count, kind: kind) { startRequests.yield((stream, id)) }
    }

    /// Runs until cancelled: the tenants' instances, the window reports, and the upkeep (throttles that
    /// expire, instances kept running, definitions read again, idempotency keys purged).
    public func run(components: ComponentRegistry) async {
        components.setRunning(Self.componentName, true)
        defer { components.setRunning(Self.componentName, false) }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                await withTaskGroup(of: Void.self) { instances in
                    for await (stream, id) in starts {
                        instances.addTask { await self.runInstance(id, of: stream) }
                    }
                }
            }
            group.addTask { await self.writeWindows() }
            group.addTask { await self.upkeep() }
            await withTaskCancellationHandler {
                while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
            } onCancel: {
                stopping.store(true, ordering: .relaxed)
            }
            // Instances end once they find nothing to do; what is still queued is failed.
            startRequests.finish()
            for stream in streams.withLock({ Array($0.values) }) {
                stream.close(failing: ServiceError(.unavailable, "shutting_down", "Sluice is shutting down; retry", retryAfterSeconds: 1))
            }
            group.cancelAll()
        }
        await writeWindowReports()
    }

    private func runInstance(_ id: Int, of stream: TenantStream) async {
        defer { stream.instanceEnded(id) }
        let definition = stream.definition
        let app = definition.effectiveStreamApp
        let started = ContinuousClock.now
        var external = app.kind == .external ? await runner.start(definition: definition, instance: id, stream: stream) : nil
        stream.instanceStarted(id, seconds: started.duration(to: .now).secondsValue, pid: external?.pid, restart: false)
        logger.info("stream instance started", metadata: ["tenant": "\(stream.tenant)", "instance": "\(id)", "kind": "\(app.kind.rawValue)"])
        await serve(id, of: stream, through: &external)
        if let external { _ = try? await runOnDedicatedThread(name: "sluice-stream-app") { external.stop() } }
        logger.info("stream instance stopped", metadata: ["tenant": "\(stream.tenant)", "instance": "\(id)"])
    }

    /// Commits micro-batches until the instance should stop.
    private func serve(_ id: Int, of stream: TenantStream, through external: inout ExternalStreamApp?) async {
        while true {
            if Task.isCancelled || stopping.load(ordering: .relaxed) {
                guard case .commit(let entries) = stream.nextWork(instance: id, idleCheck: .zero) else { return }
                await commit(entries, of: stream, through: &external, instance: id)
                continue
            }
            switch stream.nextWork(instance: id, idleCheck: configuration.idleCheck) {
            case .stop:
                return
            case .wait(let duration):
                await stream.work.wait(timeout: duration)
            case .commit(let entries):
                await commit(entries, of: stream, through: &external, instance: id)
            }
        }
    }

    private func commit(_ entries: [StreamEntry], of stream: TenantStream, through external: inout ExternalStreamApp?,
                        instance: Int) async {
        let definition = stream.definition
        let parts: Result<[StreamPart], ServiceError> = definition.effectiveStreamApp.kind == .external
            ? await runner.process(entries, definition: definition, app: &external, instance: instance, stream: stream)
            : .success(entries.map(StreamPart.init(entry:)))
        switch parts {
        case .success(let parts):
            stream.finish(entries, results: await committer.commit(parts, definition: definition))
        case .failure(let error):
            stream.finish(entries, results: entries.map { _ in .failure(error) })
        }
    }
}
