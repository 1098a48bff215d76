import ArgumentParser
import SluiceServer

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the Sluice service.",
        discussion: """
            Without --database-url (or SLUICE_DATABASE_URL) Sluice starts a private PostgreSQL cluster under \
            the data directory, listening on a Unix socket only, and stops it on exit. SIGINT/SIGTERM shut down \
            gracefully: no new connections, in-flight requests finish, then the store closes.
            """)

    @OptionGroup var options: ServeOptions

    func run() async throws {
        let logger = options.logging.bootstrap()
        FileDescriptorLimit.raiseToMaximum()
        let service = SluiceService(configuration: try options.configuration(logger: logger), logger: logger)
        do {
            try await service.run(until: .onTerminationSignals(forcedExitAfter: options.forcedExitAfter), reload: .onHangup())
        } catch {
            logger.critical("sluice failed", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
    }
}
