import ArgumentParser
import Foundation
import SluiceCore
import SluiceServer
import SluiceSystem

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run Sluice with the example tenants and feed it a steady, varied load.",
        discussion: """
            Starts `sluice serve` (every serve option applies; --config defaults to examples) and, once it listens, \
            sends every example tenant batch files (a share of bad rows, now and then an all-bad file) and stream \
            messages: tenant-c's include a burst every four minutes that meets backpressure, and tenant-d's stream \
            app slows down three minutes in eight, so the monitor scales it up and back down. It prints where to \
            look and its progress, until Ctrl-C or --duration.
            """)

    @OptionGroup var serve: ServeOptions

    @Option(help: "Seconds to send load once Sluice listens, then stop (0: until Ctrl-C).")
    var duration: Double = 0

    func validate() throws {
        guard duration >= 0 else { throw ValidationError("--duration must not be negative") }
    }

    func run() async throws {
        let logger = serve.logging.bootstrap()
        FileDescriptorLimit.raiseToMaximum()
        var configuration = try serve.configuration(logger: logger)
        configuration.configDirectory = configuration.configDirectory ?? "examples"
        guard let directory = configuration.configDirectory else { throw ExitCode.failure }
        let definitions = try ConfigurationDirectory.tenantDefinitions(in: directory).map(\.definition.definition)
        let service = SluiceService(configuration: configuration, logger: logger)
        // Ctrl-C (or the duration) stops the load first, then the service: no request of the demo's own is cut off.
        let signals = ShutdownSignal.onTerminationSignals(forcedExitAfter: serve.forcedExitAfter)
        let shutdown = ShutdownSignal()
        let running = Task { try await service.run(until: shutdown, reload: .onHangup()) }
        let load = Task {
            while service.port == nil {
                if Task.isCancelled { return }
                try await Task.sleep(for: .milliseconds(100))
            }
            let credentials = SecretFiles(dataDirectory: configuration.dataDirectory)
            let scheme = configuration.http.tls == nil ? "http" : "https"
            let host = ["0.0.0.0", "::"].contains(configuration.http.address.host) ? "127.0.0.1" : configuration.http.address.host
            let demo = DemoLoad(base: "\(scheme)://\(host):\(service.port ?? 0)",
                                keys: Dictionary(uniqueKeysWithValues: definitions.compactMap { definition in
                                    credentials.read(TenantService.keyFileName(definition.id)).map { (definition.id, $0) }
                                }), definitions: definitions)
            await demo.run()
        }
        Task {
            await signals.wait()
            load.cancel()
            _ = await load.result
            shutdown.fire()
        }
        if duration > 0 {
            Task {
                // The duration is the load's: it starts once the service listens.
                while service.port == nil, !load.isCancelled { try? await Task.sleep(for: .milliseconds(100)) }
                try? await Task.sleep(for: .milliseconds(Int(duration * 1000)))
                signals.fire()
            }
        }
        do {
            try await running.value
            load.cancel()
        } catch {
            load.cancel()
            logger.critical("sluice failed", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
    }
}
