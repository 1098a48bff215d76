import Foundation
import Logging
import SluiceCommon
import SluiceStore

/// Runs tenants' external stream apps (the contract in the README): starts an instance's process in the
/// batch apps' sandbox, hands it a micro-batch's messages and reads one answer per message. A crashed, hung or
/// misbehaving app is killed and started again with exponential backoff, and the messages it had not answered
/// are handed to the new process; a message the app fails on ``poisonStrikes`` times is rejected as
/// `app_poison` instead of blocking the tenant.
struct StreamAppRunner: Sendable {
    /// Faults one message may cause before it is rejected as poison.
    static let poisonStrikes = 3
    /// The member of an answer that drops its message: `{"_sluice_drop": "reason"}`.
    static let dropMember = "_sluice_drop"
    /// Reasons of messages an app rejected.
    static let dropCode = "app_drop"
    static let poisonCode = "app_poison"

    let staging: StagingArea
    let sandbox: AppSandbox
    let metrics: StreamMetrics
    let logger: Logger
    /// How long an app may take to answer a micro-batch: this, plus `perMessage` for each message, plus
    /// `startAllowance` until it has answered once (starting a sandbox and an interpreter on a loaded machine).
    var answerTimeout: Duration = .seconds(10)
    var perMessage: Duration = .milliseconds(10)
    var startAllowance: Duration = .seconds(10)
    /// Backoff between restarts: `initialBackoff` doubling up to `maximumBackoff`.
    var initialBackoff: Duration = .milliseconds(100)
    var maximumBackoff: Duration = .seconds(5)

    /// Starts instance `id`'s process; `nil` if it cannot start (logged; the next micro-batch tries again).
    func start(definition: TenantDefinition, instance id: Int, stream: TenantStream) async -> ExternalStreamApp? {
        do {
            return try await launch(definition)
        } catch {
            logger.error("the stream app could not be started", metadata: ["tenant": "\(definition.id)", "instance": "\(id)", "error": "\(error)"])
            return nil
        }
    }

    private func launch(_ definition: TenantDefinition) async throws -> ExternalStreamApp {
        var resources = definition.serviceAgreement.resources
        // A long-running app accumulates CPU time: hangs are caught by the answer timeout instead.
        resources.cpuTimeLimitSeconds = 0
        let runner = ExternalAppRunner(tenant: definition.id, sourcePath: try staging.tenantDirectory(definition.id),
                                       app: definition.effectiveStreamApp, resources: resources,
                                       network: definition.serviceAgreement.network, sandbox: sandbox)
        // The thread that starts the app lives as long as the app: bwrap's --die-with-parent kills the sandbox when
        // the thread that forked it ends (PR_SET_PDEATHSIG follows the parent thread, not the process).
        return try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                let process: ExternalAppProcess
                do {
                    let (program, user) = try runner.prepare()
                    process = try runner.launch(program: program, user: user, outputDirectory: nil, environment: [], stdinPipe: true)
                } catch {
                    return continuation.resume(throwing: error)
                }
                continuation.resume(returning: ExternalStreamApp(process))
                // Until it exits, without reaping it (``ExternalStreamApp/stop()`` does).
                var info = siginfo_t()
                while waitid(P_PID, id_t(process.pid), &info, WEXITED | WNOWAIT) == -1, errno == EINTR {}
            }
            thread.name = "sluice-stream-app"
            thread.start()
        }
    }

    /// One message on its way through the app.
    private struct Message {
        let part: Int
        let index: Int
        let line: [UInt8]
        var strikes = 0
    }

    /// Runs the messages of `entries` through the app (started, or restarted, as needed) and returns what the
    /// loader gets, or the error every request of the micro-batch is answered with when the app cannot run.
    func process(_ entries: [StreamEntry], definition: TenantDefinition, app: inout ExternalStreamApp?, instance: Int,
                 stream: TenantStream) async -> Result<[StreamPart], ServiceError> {
        var messages: [Message] = []
        for (part, entry) in entries.enumerated() {
            for (index, line) in entry.payload.messageLines(definition: definition).enumerated() {
                messages.append(Message(part: part, index: index, line: line))
            }
        }
        var answers: [[UInt8]?] = Array(repeating: nil, count: messages.count)
        var rejects: [[StreamAnswer.Reject]] = Array(repeating: [], count: entries.count)
        var next = 0
        var failures = 0
        while next < messages.count {
            if app == nil {
                if failures > 0 {
                    try? await Task.sleep(for: min(maximumBackoff, initialBackoff * (1 << min(failures - 1, 16))))
                }
                let started = ContinuousClock.now
                do {
                    app = try await launch(definition)
                } catch {
                    logger.error("the stream app could not be started", metadata: ["tenant": "\(definition.id)", "error": "\(error)"])
                    return .failure((error as? ServiceError)
                        ?? ServiceError(.unavailable, "app_start_failed", "the stream app could not be started: \(error)", retryAfterSeconds: 1))
                }
                stream.instanceStarted(instance, seconds: started.duration(to: .now).secondsValue, pid: app?.pid, restart: true)
            }
            guard let running = app else { continue }
            let pending = messages[next...].map(\.line)
            let timeout = answerTimeout + perMessage * pending.count, allowance = startAllowance
            let lines: [[UInt8]], failure: ExternalStreamApp.Fault?
            do {
                lines = try await runOnDedicatedThread(name: "sluice-stream-app") {
                    try running.exchange(pending, timeout: timeout, startAllowance: allowance)
                }
                failure = nil
            } catch let fault as ExternalStreamApp.Fault {
                (lines, failure) = (fault.answers, fault)
            } catch {
                (lines, failure) = ([], ExternalStreamApp.Fault(kind: .crashed, answers: [], detail: "\(error)"))
            }
            // An answer that is not a JSON object is misbehaviour, like a crash at its message.
            let bad = lines.firstIndex { Self.classify($0) == nil }
            for (offset, line) in lines.prefix(bad ?? lines.count).enumerated() { answers[next + offset] = line }
            next += bad ?? lines.count
            guard let fault = bad.map({ ExternalStreamApp.Fault(kind: .misbehaved, answers: Array(lines.prefix($0)), detail: "its answer is not a JSON object") })
                ?? failure else { continue }
            let (ending, diagnostics) = (try? await runOnDedicatedThread(name: "sluice-stream-app") { running.stop() }) ?? ("?", "")
            app = nil
            failures += 1
            metrics.restarted(tenant: definition.id)
            logger.warning("the stream app failed; it is restarted", metadata: [
                "tenant": "\(definition.id)", "instance": "\(instance)", "fault": "\(fault)", "ended": "\(ending)", "stderr": "\(diagnostics)",
            ])
            guard next < messages.count else { break }
            messages[next].strikes += 1
            if messages[next].strikes >= Self.poisonStrikes {
                let message = messages[next]
                rejects[message.part].append(.init(index: message.index, reason: Self.poisonCode,
                                                   message: "the stream app failed on this message \(Self.poisonStrikes) times (last: \(fault.kind.rawValue))",
                                                   field: nil))
                next += 1
            }
        }
        return .success(parts(entries, messages: messages, answers: answers, rejects: rejects))
    }

    /// The loader's parts: each request's answers that are records, as NDJSON, with their message indexes; a
    /// drop marker rejects its message.
    private func parts(_ entries: [StreamEntry], messages: [Message], answers: [[UInt8]?],
                       rejects initial: [[StreamAnswer.Reject]]) -> [StreamPart] {
        var records = Array(repeating: [UInt8](), count: entries.count)
        var indexes = Array(repeating: [Int](), count: entries.count)
        var rejects = initial
        for (message, answer) in zip(messages, answers) {
            guard let answer else { continue }
            switch Self.classify(answer) {
            case .record:
                records[message.part] += answer
                records[message.part].append(UInt8(ascii: "\n"))
                indexes[message.part].append(message.index)
            case .drop(let reason):
                rejects[message.part].append(.init(index: message.index, reason: Self.dropCode, message: reason, field: nil))
            case nil:
                break
            }
        }
        return entries.indices.map { part in
            StreamPart(entry: entries[part], format: "ndjson", records: records[part], indexes: indexes[part], appRejects: rejects[part])
        }
    }

    private enum Answer: Equatable {
        case record, drop(String)
    }

    /// What an answer line is; `nil` when it is not a JSON object.
    private static func classify(_ line: [UInt8]) -> Answer? {
        guard let members = try? JSONRecordDecoder.decode(line) else { return nil }
        switch members[dropMember] {
        case .string(let reason)?: return .drop(reason.isEmpty ? "dropped by the stream app" : reason)
        case nil: return .record
        default: return .drop("dropped by the stream app")
        }
    }
}
