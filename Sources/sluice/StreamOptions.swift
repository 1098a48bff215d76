import ArgumentParser
import SluiceServer

/// The stream path's platform defaults; a tenant's `service_agreement.stream` overrides the queue and batch bounds.
struct StreamOptions: ParsableArguments {
    @Option(help: "Milliseconds a stream request waits for others to share its micro-batch (one COPY, one transaction).")
    var streamLingerMs: Int = 5

    @Option(help: "Messages that make a stream micro-batch full (committed at once); at most 10000.")
    var streamBatchMessages: Int = 5000

    @Option(help: "Messages a tenant's stream queue holds at most; beyond, requests get 429 backpressure.")
    var streamQueueMessages: Int = 20_000

    @Option(help: "Bytes a tenant's stream queue holds at most; beyond, requests get 429 backpressure.")
    var streamQueueBytes: Int = 32 << 20

    @Option(help: "Bytes one stream request may hold, as sent and inflated (413 request_too_large beyond).")
    var streamMaxRequestBytes: Int = 8 << 20

    @Option(help: "Bytes of stream requests held at once (being read or queued, all tenants); beyond, 429 backpressure.")
    var streamMemoryBudget: Int = 256 << 20

    @Option(help: "Seconds of one stream window: one ingestion report per tenant and window with traffic.")
    var streamWindowSeconds: Double = 10

    func validate() throws {
        guard streamLingerMs >= 0, (1...10_000).contains(streamBatchMessages), streamQueueMessages > 0, streamQueueBytes > 0,
              streamMaxRequestBytes > 0, streamMemoryBudget >= streamMaxRequestBytes, streamWindowSeconds >= 0.1 else {
            throw ValidationError("--stream-linger-ms must be at least 0, --stream-batch-messages in 1...10000, --stream-queue-* and --stream-max-request-bytes positive, --stream-memory-budget at least --stream-max-request-bytes, --stream-window-seconds at least 0.1")
        }
    }

    func apply(to configuration: inout SluiceConfiguration) {
        configuration.stream.linger = .milliseconds(streamLingerMs)
        configuration.stream.batchMessages = streamBatchMessages
        configuration.stream.queueMessages = streamQueueMessages
        configuration.stream.queueBytes = streamQueueBytes
        configuration.stream.maximumRequestBytes = streamMaxRequestBytes
        configuration.stream.memoryBudget = streamMemoryBudget
        configuration.stream.window = .milliseconds(Int(streamWindowSeconds * 1000))
    }
}
