import Foundation
import Logging
import SluiceCommon
import SluiceStore
import Synchronization

/// The batch ingest manager: queues arrived files (on arrival, or at a tenant's cron times) and runs
/// `workers` workers that lease files from the ledger and ingest them with ``FileIngestor``.
public final class BatchIngestManager: Sendable {
    public struct Configuration: Sendable {
        /// Files ingested at once by this process.
        public var workers = 2
        /// How long a claimed file stays leased without renewal (renewed every third of it).
        public var lease: Duration = .seconds(60)
        /// Longest pause between looks for new work when idle. Files staged or replayed in this process
        /// wake the manager at once; polling finds those of other processes, expired leases and cron times.
        public var pollInterval: Duration = .milliseconds(250)
        /// gzip limits: inflated bytes and inflated/compressed ratio.
        public var maximumInflatedBytes = 64 << 30
        public var maximumInflationRatio = 200
        /// Ingest an upload while it arrives when its tenant has no other files waiting and a worker is free
        /// (a tenant without a schedule, with the declarative app): its rows commit moments after the upload
        /// instead of a full ingest later.
        public var ingestDuringUpload = true
        /// How long such an ingest waits for more bytes of a stalled upload, and how long it follows one upload
        /// at most, before it leaves the file to the queue (so a slow client does not hold a worker, a store
        /// connection and an open transaction).
        public var uploadPatience: Duration = .seconds(5)
        public var uploadFollowLimit: Duration = .seconds(300)
        /// Times a file is taken for ingestion at most: a file that keeps crashing, hanging or interrupting
        /// its ingest is then failed with `too_many_attempts` and its last error (and can still be replayed).
        public var maxAttempts = 5
        public init() {}
    }

    public static let componentName = "batch-ingest"

    private let configuration: Configuration
    private let pool: PostgresConnectionPool
    private let queue: FileQueue
    private let tenants: TenantService
    private let staging: StagingArea
    /// Where tenants' external apps run.
    public let sandbox: AppSandbox
    private let metrics: IngestMetrics
    private let logger: Logger
    private let owner: String
    /// Set when the manager stops, so files in progress abort promptly instead of delaying shutdown.
    private let stopping = Atomic<Bool>(false)
    /// Wakes the scheduler: files were staged in this process.
    private let arrivals = WakeUpSignal()
    /// Wakes an idle worker: files were queued, or a worker became free.
    private let queuedWork = WakeUpSignal()
    /// Files this process ingests now (at most `workers`): by its workers and during uploads.
    private let busy = Atomic<Int>(0)
    /// Tenants with an upload being ingested as it arrives (one at a time per tenant).
    private let followedTenants = Mutex<Set<String>>([])
    /// Those uploads by tenant, so a tenant's deletion can stop their ingests.
    private let arrivingFiles = Mutex<[String: ArrivingFile]>([:])
    /// The tasks of those ingests by number, awaited before ``run(components:)`` returns; `nil` after that.
    private let follows = Mutex<[Int: Task<Void, Never>]?>([:])
    private let followNumbers = Atomic<Int>(0)

    /// `sandbox` confines tenants' external apps.
    public init(configuration: Configuration, pool: PostgresConnectionPool, tenants: TenantService, staging: StagingArea,
                sandbox: AppSandbox, metrics: IngestMetrics, logger: Logger, owner: String) {
        self.configuration = configuration
        self.pool = pool
        self.queue = FileQueue(pool: pool)
        self.tenants = tenants
        self.staging = staging
        self.sandbox = sandbox
        self.metrics = metrics
        self.logger = logger
        self.owner = owner
    }

    /// Runs the scheduler and the workers until cancelled.
    public func run(components: ComponentRegistry) async {
        components.setRunning(Self.componentName, true)
        defer { components.setRunning(Self.componentName, false) }
        await withTaskCancellationHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.schedule() }
                for index in 0..<max(0, configuration.workers) {
                    group.addTask { await self.work(index) }
                }
            }
        } onCancel: {
            stopping.store(true, ordering: .relaxed)
        }
        // Ingests following uploads end promptly once stopping; they may still give their file back to the queue.
        let following = follows.withLock { tasks in
            defer { tasks = nil }
            return tasks.map { Array($0.values) } ?? []
        }
        for task in following { await task.value }
    }

    /// Has the scheduler look for staged files now rather than at its next poll, so a file of a tenant
    /// without a schedule is queued and claimed at once. Call it after the transaction staging files commits.
    public func filesStaged() {
        arrivals.signal()
    }

    /// Puts a finished file back in the queue (`POST …/files/{id}/replay`) and wakes a worker for it.
    public func replay(tenant: String, fileID: String) async throws -> FileRecord {
        let file = try await queue.replay(tenant: tenant, fileID: fileID)
        queuedWork.signal()
        return file
    }

    /// Queues files of tenants without a schedule as they arrive, and those of scheduled tenants when
    /// their cron expression fires.
    /// Schedules are cron expressions, which fire on whole minutes: they are looked at once a minute, just
    /// after it turns, reading only the scheduled tenants' expressions (parsed once each).
    private func schedule() async {
        var lastLook = Date()
        var parsed: [String: CronSchedule] = [:]
        while !Task.isCancelled {
            let now = Date()
            do {
                if try await queue.queueArrivals() > 0 { queuedWork.signal() }
                if Int(now.timeIntervalSince1970 / 60) > Int(lastLook.timeIntervalSince1970 / 60) {
                    let schedules = try await tenants.schedules()
                    parsed = parsed.filter { expression, _ in schedules.contains { $0.cron == expression } }
                    for (tenant, expression) in schedules {
                        guard let cron = parsed[expression] ?? (try? CronSchedule(expression)) else { continue }
                        parsed[expression] = cron
                        guard let next = cron.nextDate(after: lastLook), next <= now else { continue }
                        let queued = try await queue.queueTenant(tenant)
                        if queued > 0 {
                            queuedWork.signal()
                            logger.info("scheduled ingestion", metadata: ["tenant": "\(tenant)", "files": "\(queued)"])
                        }
                    }
                    lastLook = now
                }
            } catch {
                logger.warning("ingest scheduling failed", metadata: ["error": "\(error)"])
            }
            await arrivals.wait(timeout: configuration.pollInterval)
        }
    }

    private func work(_ index: Int) async {
        let worker = "\(owner)/\(index)"
        while !Task.isCancelled {
            guard busy.load(ordering: .relaxed) < configuration.workers else {
                await queuedWork.wait(timeout: configuration.pollInterval)
                continue
            }
            let claim: FileQueue.Claim?
            do {
                claim = try await queue.claim(owner: worker, lease: configuration.lease)
            } catch {
                logger.warning("claiming a file failed", metadata: ["error": "\(error)"])
                claim = nil
            }
            guard let claim else {
                await queuedWork.wait(timeout: configuration.pollInterval)
                continue
            }
            guard reserveWorker() else {
                // An upload took the last place while this worker claimed: the file goes back, as if never claimed.
                _ = try? await queue.release(fileID: claim.file.id, owner: worker, undoingTheClaim: true)
                continue
            }
            // More files may be queued: pass the wake-up on to an idle worker.
            queuedWork.signal()
            metrics.busyWorkers(+1)
            await ingest(claim, worker: worker)
            metrics.busyWorkers(-1)
            releaseWorker(signal: false)
        }
    }

    /// Takes one of the `workers` places, if one is free.
    private func reserveWorker() -> Bool {
        var current = busy.load(ordering: .relaxed)
        while current < configuration.workers {
            let (exchanged, original) = busy.compareExchange(expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Frees a place; `signal` wakes a worker that may have found none free.
    private func releaseWorker(signal: Bool) {
        busy.subtract(1, ordering: .acquiringAndReleasing)
        if signal { queuedWork.signal() }
    }

    /// Starts ingesting an upload as it arrives, if its tenant ingests on arrival with the declarative app and
    /// has no other upload ingested this way, and a worker place is free; `nil` otherwise. The upload must end
    /// the returned file with ``ArrivingFile/publish(_:)`` or ``ArrivingFile/abandon()``.
    func followUpload(_ file: FileRecord, of definition: TenantDefinition, temporaryPath: String) -> ArrivingFile? {
        guard configuration.ingestDuringUpload, !stopping.load(ordering: .relaxed),
              definition.serviceAgreement.schedule == nil, definition.ingestApp.kind == .declarative else { return nil }
        guard let finalPath = try? staging.finalPath(tenant: file.tenant, id: file.id, sanitizedName: file.storedName),
              followedTenants.withLock({ $0.insert(file.tenant).inserted }) else { return nil }
        guard reserveWorker() else {
            followedTenants.withLock { _ = $0.remove(file.tenant) }
            return nil
        }
        let arriving = ArrivingFile(file: file, temporaryPath: temporaryPath, finalPath: finalPath, owner: "\(owner)/upload",
                                    lease: configuration.lease, patience: configuration.uploadPatience,
                                    limit: configuration.uploadFollowLimit)
        let number = followNumbers.add(1, ordering: .relaxed).newValue
        let started = follows.withLock { tasks -> Bool in
            guard tasks != nil else { return false }
            // Its removal at the end waits for this lock, so it cannot come before the insertion.
            arrivingFiles.withLock { $0[file.tenant] = arriving }
            tasks?[number] = Task {
                let outcome = await follow(arriving, definition: definition)
                arrivingFiles.withLock { _ = $0.removeValue(forKey: file.tenant) }
                followedTenants.withLock { _ = $0.remove(file.tenant) }
                releaseWorker(signal: true)
                metrics.ingestedDuringUpload(tenant: file.tenant, outcome: outcome)
                follows.withLock { _ = $0?.removeValue(forKey: number) }
            }
            return true
        }
        guard started else {
            arrivingFiles.withLock { _ = $0.removeValue(forKey: file.tenant) }
            followedTenants.withLock { _ = $0.remove(file.tenant) }
            releaseWorker(signal: false)
            return nil
        }
        return arriving
    }

    /// Stops the ingest following an upload of `tenant`, if any (the tenant is being deleted): it rolls back.
    public func stopFollowingUploads(of tenant: String) {
        arrivingFiles.withLock { $0[tenant] }?.abandon()
    }

    /// Ingests an arriving upload; commits once the upload published it under this ingest's lease. An error
    /// after that fails the file as a worker would; shutdown gives it back to the queue.
    /// Returns `finished` (the file is succeeded, partial or failed), `abandoned` (the upload did not publish
    /// the file for this ingest, or the ingest stopped before it did) or `requeued` (see ``ended(_:worker:by:)``).
    private func follow(_ arriving: ArrivingFile, definition: TenantDefinition) async -> String {
        metrics.busyWorkers(+1)
        defer { metrics.busyWorkers(-1) }
        let worker = arriving.owner
        // The lease exists once the upload has published the file.
        let renewal = renewLease(of: { arriving.claim?.file.id }, owner: worker)
        defer { renewal.cancel() }
        let ingestor = makeIngestor(definition, followsUpload: true)
        let reader = StagedFileReader(path: arriving.temporaryPath, gzip: arriving.file.compressed,
                                      limits: ingestor.limits, arriving: arriving)
        let pipeline = RecordPipeline(app: definition.ingestApp, schema: definition.schema)
        do {
            let outcome = try await pool.withConnection { connection in
                try ingestor.ingest(arriving.file, format: arriving.file.format, pipeline: pipeline, source: reader.read,
                                    repeatable: true, on: connection) { connection, outcome in
                    guard let claim = arriving.claim else { throw ArrivingFile.Detached() }
                    try Self.record(outcome, of: claim.file, worker: worker, report: IngestReportBuilder(claim: claim),
                                    appKind: definition.ingestApp.kind.rawValue, on: connection)
                }
            }
            if let claim = arriving.claim { ingested(outcome, claim: claim) }
            return "finished"
        } catch {
            guard let claim = try? await runOnDedicatedThread(name: "sluice-upload-detach", { arriving.detach() }) else {
                return "abandoned"
            }
            // The file is in the ledger under this ingest's lease: failed like any other, or back in the queue.
            return await ended(claim, worker: worker, by: error is ArrivingFile.Detached ? CancellationError() : error)
                ? "requeued" : "finished"
        }
    }

    /// Ingests one file now, on the caller's task, whatever its tenant's schedule (`sluice ingest`); waits
    /// for another worker already holding it. Returns the file's final ledger entry.
    public func ingestNow(tenant: String, fileID: String) async throws -> FileRecord {
        let worker = "\(owner)/now"
        if let claim = try await queue.claim(fileID: fileID, owner: worker, lease: configuration.lease) {
            metrics.busyWorkers(+1)
            await ingest(claim, worker: worker)
            metrics.busyWorkers(-1)
        }
        while true {
            let file = try await FileRecord.fetch(tenant: tenant, id: fileID, pool: pool)
            if ["succeeded", "failed", "partial"].contains(file.state) { return file }
            try await Task.sleep(for: configuration.pollInterval)
        }
    }

    private func ingest(_ claim: FileQueue.Claim, worker: String) async {
        let file = claim.file
        guard file.attempts <= configuration.maxAttempts else {
            let last = file.error.map { "last error: \($0)" }
                ?? "no error was recorded (the process ingesting it stopped, or its lease ran out)"
            await ended(claim, worker: worker, by: ServiceError(
                .conflict, "too_many_attempts",
                "too_many_attempts: ingestion was started \(file.attempts - 1) times without finishing (limit \(configuration.maxAttempts)); \(last)"))
            return
        }
        let renewal = renewLease(of: { file.id }, owner: worker)
        defer { renewal.cancel() }
        let report = IngestReportBuilder(claim: claim)
        do {
            let definition = try await tenants.get(file.tenant).definition
            let ingestor = makeIngestor(definition)
            let finish = { @Sendable (connection: PostgresConnection, outcome: FileIngestor.Outcome) throws in
                try Self.record(outcome, of: file, worker: worker, report: report, appKind: definition.ingestApp.kind.rawValue,
                                on: connection)
            }
            let outcome: FileIngestor.Outcome
            if definition.ingestApp.kind == .external {
                // The app runs first, holding no store connection; its output is loaded in the transaction after.
                let output = try await runOnDedicatedThread(name: "sluice-ingest-app") { try ingestor.runExternalApp(claim) }
                defer { try? ingestor.removeExternalAppOutput(of: file) }
                outcome = try await pool.withConnection { connection in
                    try ingestor.ingest(claim, appOutput: output, on: connection, finish: finish)
                }
            } else {
                outcome = try await pool.withConnection { connection in try ingestor.ingest(claim, on: connection, finish: finish) }
            }
            ingested(outcome, claim: claim)
        } catch {
            await ended(claim, worker: worker, by: error)
        }
    }

    /// Renews `owner`'s lease on the file `fileID` names (if any yet) every third of the lease, until cancelled.
    private func renewLease(of fileID: @escaping @Sendable () -> String?, owner: String) -> Task<Void, Never> {
        let lease = configuration.lease
        return Task { [queue] in
            while !Task.isCancelled {
                try? await Task.sleep(for: lease / 3)
                if let id = fileID() { try? await queue.renew(fileID: id, owner: owner, lease: lease) }
            }
        }
    }

    /// Ends a file whose ingestion threw. Shutdown and errors worth retrying (a deadlock, a lost connection)
    /// give it back to the queue (returns `true`); any other error fails it, with its report.
    @discardableResult
    private func ended(_ claim: FileQueue.Claim, worker: String, by error: any Error) async -> Bool {
        let file = claim.file
        // A staged file missing here may be there for another instance: it is retried, up to the attempts cap.
        if error is CancellationError || (error as? PostgresError)?.isTransient == true
            || (error as? ServiceError)?.code == "staged_file_missing" {
            // Neither a shutdown nor a lock wait that timed out is the file's fault: neither counts as an attempt.
            _ = try? await queue.release(fileID: file.id, owner: worker, error: error is CancellationError ? nil : "\(error)",
                                         undoingTheClaim: error is CancellationError || (error as? PostgresError)?.sqlState == "55P03")
            queuedWork.signal()
            logger.info("file ingestion interrupted; it is queued again", metadata: ["file": "\(file.id)", "error": "\(error)"])
            return true
        }
        var failed = FileIngestor.Outcome()
        failed.state = "failed"
        failed.error = (error as? ServiceError)?.message ?? "\(error)"
        if let app = error as? FileIngestor.AppFailure {
            failed.error = app.error.message
            failed.diagnostics = app.diagnostics
            failed.appRun = app.run
        }
        let outcome = failed
        let message = failed.error ?? ""
        do {
            try await pool.withTransaction { connection in
                try Self.record(outcome, of: file, worker: worker, report: IngestReportBuilder(claim: claim),
                                appKind: outcome.appRun == nil ? nil : IngestApp.Kind.external.rawValue, on: connection)
            }
        } catch {
            logger.error("recording a failed ingestion failed", metadata: ["file": "\(file.id)", "error": "\(error)"])
        }
        metrics.record(tenant: file.tenant, outcome: outcome, bytes: file.size,
                       seconds: claim.startedAt.distance(to: Date()), latency: claim.receivedAt.distance(to: Date()))
        logger.warning("file ingestion failed", metadata: ["tenant": "\(file.tenant)", "file": "\(file.id)", "error": "\(message)"])
        return false
    }

    /// An ingestor for one ingest starting now. A file's inflated size is bounded by the tenant's
    /// `max_file_size` and storage quota as well as the global limit (a 62 MB gzip of one repeated row
    /// inflated to 10 GB before), and its load by the tenant's `timeout_seconds`.
    private func makeIngestor(_ definition: TenantDefinition, followsUpload: Bool = false) -> FileIngestor {
        let constraints = definition.constraints
        let inflated = min(configuration.maximumInflatedBytes, constraints.maxFileSizeBytes, constraints.storageQuotaBytes)
        return FileIngestor(definition: definition, staging: staging, sandbox: sandbox,
                            limits: .init(maximumInflatedBytes: inflated, maximumRatio: configuration.maximumInflationRatio),
                            shouldStop: { [self] in stopping.load(ordering: .relaxed) }, followsUpload: followsUpload,
                            deadline: .now + .seconds(definition.serviceAgreement.resources.timeoutSeconds))
    }

    /// Accounts for a committed file.
    private func ingested(_ outcome: FileIngestor.Outcome, claim: FileQueue.Claim) {
        let file = claim.file
        metrics.record(tenant: file.tenant, outcome: outcome, bytes: file.size,
                       seconds: claim.startedAt.distance(to: Date()), latency: claim.receivedAt.distance(to: Date()))
        logger.info("file ingested", metadata: ["tenant": "\(file.tenant)", "file": "\(file.id)", "state": "\(outcome.state)",
                                                "rows": "\(outcome.rowsIngested)", "rejected": "\(outcome.rowsRejected)"])
    }

    /// Finishes the file in the ledger and writes its report, in the caller's transaction. Fails (and so
    /// rolls everything back) if this worker no longer holds the lease.
    private static func record(_ outcome: FileIngestor.Outcome, of file: FileRecord, worker: String,
                               report: IngestReportBuilder, appKind: String?, on connection: PostgresConnection) throws {
        let updated = try connection.execute("""
            UPDATE sluice.files SET state = $2, state_changed_at = clock_timestamp(), ingest_finished_at = clock_timestamp(),
                rows_total = $3, rows_ingested = $4, rows_rejected = $5, error = $6, lease_owner = NULL, lease_expires_at = NULL
            WHERE id = $1 AND lease_owner = $7 AND state = 'ingesting'
            """, [.init(file.id), .init(outcome.state), .init(outcome.rowsTotal), .init(outcome.rowsIngested),
                  .init(outcome.rowsRejected), .init(outcome.error), .init(worker)])
        guard updated == 1 else {
            throw ServiceError(.conflict, "lease_lost", "the lease on file \(file.id) was lost; another worker ingests it")
        }
        try report.insert(outcome, appKind: appKind, on: connection)
    }
}
