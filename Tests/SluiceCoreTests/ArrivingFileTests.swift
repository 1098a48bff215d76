import Foundation
import SluiceCommon
@testable import SluiceCore
import SluiceStore
import Testing

/// The hand-over between an upload and the ingest reading its file as it arrives.
@Suite struct ArrivingFileTests {
    private static func arriving(patience: Duration = .seconds(60), limit: Duration = .seconds(600),
                                 temporaryPath: String = "/nonexistent", finalPath: String = "/nonexistent") -> ArrivingFile {
        ArrivingFile(file: FileRecord(arriving: "f1", tenant: "acme", originalName: "a.csv", storedName: "a.csv", type: FileType(.csv)),
                     temporaryPath: temporaryPath, finalPath: finalPath, owner: "test/upload", lease: .seconds(60), patience: patience,
                     limit: limit)
    }

    private static func claim(_ arriving: ArrivingFile) -> FileQueue.Claim {
        FileQueue.Claim(file: arriving.file, receivedAt: Date(), queuedAt: Date(), startedAt: arriving.startedAt)
    }

    /// Runs the blocking `readable(from:)` on its own thread.
    private static func readable(_ arriving: ArrivingFile, from offset: Int) async -> Result<Int, any Error> {
        do {
            return .success(try await runOnDedicatedThread(name: "test-reader") { try arriving.readable(from: offset) })
        } catch {
            return .failure(error)
        }
    }

    @Test func theReaderSeesWrittenBytesAndWaitsForMore() async throws {
        let arriving = Self.arriving()
        arriving.advance(to: 100)
        #expect(try await Self.readable(arriving, from: 0).get() == 100)
        let waiting = Task { await Self.readable(arriving, from: 100) }
        try await Task.sleep(for: .milliseconds(100))
        arriving.advance(to: 250)
        #expect(try await waiting.value.get() == 150)
    }

    @Test func publicationEndsTheFileAndHandsOverTheLease() async throws {
        let arriving = Self.arriving()
        arriving.advance(to: 10)
        let waiting = Task { await Self.readable(arriving, from: 10) }
        try await Task.sleep(for: .milliseconds(100))
        #expect(arriving.beginPublication())
        #expect(arriving.claim == nil)
        arriving.publish(Self.claim(arriving))
        #expect(try await waiting.value.get() == 0)
        #expect(arriving.claim?.file.id == "f1")
        // Once published, abandoning (the upload's safety net) changes nothing.
        arriving.abandon()
        #expect(arriving.detach()?.file.id == "f1")
    }

    @Test func anAbandonedUploadStopsTheWaitingReader() async throws {
        let arriving = Self.arriving()
        let waiting = Task { await Self.readable(arriving, from: 0) }
        try await Task.sleep(for: .milliseconds(100))
        arriving.abandon()
        let result = await waiting.value
        #expect(throws: ArrivingFile.Detached.self) { try result.get() }
        #expect(arriving.detach() == nil)
    }

    @Test func aStalledUploadIsLeftAfterThePatience() async throws {
        let arriving = Self.arriving(patience: .milliseconds(200))
        arriving.advance(to: 5)
        let started = ContinuousClock.now
        let result = await Self.readable(arriving, from: 5)
        #expect(throws: ArrivingFile.Detached.self) { try result.get() }
        #expect(started.duration(to: .now) >= .milliseconds(200))
        // The upload then records the file for the queue instead.
        #expect(!arriving.beginPublication())
    }

    /// A slow upload that keeps sending is left too once it has been followed for the limit.
    @Test func anUploadArrivingForLongerThanTheLimitIsLeft() async throws {
        let arriving = Self.arriving(limit: .milliseconds(200))
        arriving.advance(to: 5)
        #expect(try await Self.readable(arriving, from: 0).get() == 5)
        try await Task.sleep(for: .milliseconds(300))
        arriving.advance(to: 10)
        let result = await Self.readable(arriving, from: 5)
        #expect(throws: ArrivingFile.Detached.self) { try result.get() }
        #expect(!arriving.beginPublication())
    }

    @Test func detachingWaitsForAPublicationUnderWay() async throws {
        let arriving = Self.arriving()
        #expect(arriving.beginPublication())
        let detached = Task { try await runOnDedicatedThread(name: "test-detach") { arriving.detach() } }
        try await Task.sleep(for: .milliseconds(100))
        arriving.publish(Self.claim(arriving))
        #expect(try await detached.value?.file.id == "f1")
    }

    /// A small upload can be published before its ingest opens the file: it then reads the published path.
    @Test func anIngestOpeningAfterThePublicationReadsTheFinalPath() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("arriving-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Data("sensor\ns1\n".utf8).write(to: URL(fileURLWithPath: "\(directory)/final.csv"))
        let arriving = Self.arriving(temporaryPath: "\(directory)/gone.tmp", finalPath: "\(directory)/final.csv")
        arriving.advance(to: 10)
        #expect(arriving.beginPublication())
        let opened = Task { try await runOnDedicatedThread(name: "test-open") { try arriving.open().readToEnd() } }
        try await Task.sleep(for: .milliseconds(100))
        arriving.publish(Self.claim(arriving))
        #expect(try await opened.value == Data("sensor\ns1\n".utf8))

        let abandoned = Self.arriving(temporaryPath: "\(directory)/gone.tmp", finalPath: "\(directory)/final.csv")
        abandoned.abandon()
        #expect(throws: ArrivingFile.Detached.self) { try abandoned.open() }
    }
}
