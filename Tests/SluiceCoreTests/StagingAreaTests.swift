import Crypto
import Foundation
import Testing
@testable import SluiceCore

/// A fresh directory under the system temporary directory, removed by `cleanUp()`.
private struct TemporaryDirectory {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "sluice-staging-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func cleanUp() { try? FileManager.default.removeItem(atPath: path) }
}

private func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

/// The complete files in the tenant's `in/` (hidden ones excluded), sorted.
private func listed(_ area: StagingArea, _ tenant: String) throws -> [String] {
    let directory = try area.tenantDirectory(tenant) + "/in"
    return ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
}

@Suite("StagingArea and StagingFileWriter")
struct StagingAreaTests {
    @Test func layoutAndValidation() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let area = StagingArea(root: StagingArea.defaultRoot(dataDirectory: directory.path + "/"), instance: "host-1/x")
        #expect(area.root == directory.path + "/staging")
        #expect(try area.tenantDirectory("acme") == area.root + "/acme")
        #expect(try area.temporaryPath(tenant: "acme", id: "u1") == area.root + "/acme/in/.tmp-u1.host-1_x")
        #expect(try area.finalPath(tenant: "acme", id: "u1", sanitizedName: "x.csv") == area.root + "/acme/in/u1-x.csv")
        for tenant in ["", "Acme", "1acme", "../etc", "a/b", "acme.", String(repeating: "a", count: 64), "a\u{0}"] {
            #expect(throws: StagingError.self) { try area.tenantDirectory(tenant) }
            await #expect(throws: StagingError.self) { try await area.removeTenant(tenant) }
        }
        let longest = "a" + String(repeating: "-", count: 61) + "9"
        #expect(try area.tenantDirectory(longest) == area.root + "/" + longest)
        #expect(try area.tenantDirectory("a_b-c9") == area.root + "/a_b-c9")
        #expect { try area.temporaryPath(tenant: "acme", id: "../x") } throws: { ($0 as? StagingError)?.code == "invalid_name" }
        #expect { try area.finalPath(tenant: "acme", id: "u1", sanitizedName: "../x.csv") } throws: { ($0 as? StagingError)?.code == "invalid_name" }

        let inDirectory = try await area.inDirectory("acme")
        let outDirectory = try await area.outDirectory("acme")
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: inDirectory, isDirectory: &isDirectory) && isDirectory.boolValue)
        #expect(exists(outDirectory))
        let mode = try FileManager.default.attributesOfItem(atPath: inDirectory)[.posixPermissions] as? Int
        #expect(mode == 0o755)
    }

    @Test func writesLargeFilesWithSizeAndChecksum() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let area = StagingArea(root: directory.path + "/staging", instance: "test")
        _ = try await area.inDirectory("acme")
        let temporary = try area.temporaryPath(tenant: "acme", id: "big")
        let writer = try await StagingFileWriter(temporaryPath: temporary, maximumBytes: 64 << 20)
        var generator = SplitMix64(seed: 7)
        let content = (0..<(50 << 20) / 8).flatMap { _ in withUnsafeBytes(of: generator.next()) { Array($0) } }
        var offset = 0
        while offset < content.count {
            let size = min(Int.random(in: 1...(64 << 10), using: &generator), content.count - offset)
            try await writer.write(Array(content[offset..<offset + size]))
            offset += size
            #expect(writer.bytesWritten == Int64(offset))
        }
        let staged = try await writer.finish()
        let expected = SHA256.hash(data: content).map { String(format: "%02x", $0) }.joined()
        #expect(staged == StagedFile(path: temporary, size: 50 << 20, sha256: expected))
        #expect(try FileManager.default.attributesOfItem(atPath: temporary)[.size] as? Int == 50 << 20)
        #expect(try listed(area, "acme") == [])

        let final = try area.finalPath(tenant: "acme", id: "big", sanitizedName: "big.csv")
        try await writer.commit(to: final)
        #expect(!exists(temporary))
        #expect(FileManager.default.contents(atPath: final) == Data(content))
        #expect(try listed(area, "acme") == ["big-big.csv"])
        await writer.discard()
        #expect(!exists(final))
        await writer.discard()
    }

    @Test func emptyFileChecksum() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let writer = try await StagingFileWriter(temporaryPath: directory.path + "/.tmp-empty", maximumBytes: 10)
        try await writer.write([])
        let staged = try await writer.finish()
        #expect(staged.size == 0)
        #expect(staged.sha256 == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        await #expect(throws: StagingError.self) { try await writer.write([1]) }
        await writer.discard()
        #expect(!exists(staged.path))
    }

    @Test func tooLargeIsCutExactlyAtTheLimit() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let path = directory.path + "/.tmp-limit"
        let writer = try await StagingFileWriter(temporaryPath: path, maximumBytes: 1000)
        try await writer.write([UInt8](repeating: 1, count: 600))
        try await writer.write([UInt8](repeating: 2, count: 400))
        #expect(writer.bytesWritten == 1000)
        #expect(exists(path))
        await #expect { try await writer.write([3]) } throws: { ($0 as? StagingError)?.code == StagingError.Code.fileTooLarge }
        #expect(!exists(path))
        #expect(writer.bytesWritten == 1000)
        await #expect { try await writer.write([3]) } throws: { ($0 as? StagingError)?.code == StagingError.Code.invalidState }
        await #expect { _ = try await writer.finish() } throws: { ($0 as? StagingError)?.code == StagingError.Code.invalidState }
        await writer.discard()
        await writer.discard()
    }

    @Test func createIsExclusiveAndCommitNeedsFinish() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let path = directory.path + "/.tmp-x"
        let writer = try await StagingFileWriter(temporaryPath: path, maximumBytes: 100)
        await #expect { _ = try await StagingFileWriter(temporaryPath: path, maximumBytes: 100) } throws: {
            ($0 as? StagingError)?.code == StagingError.Code.ioError
        }
        await #expect { try await writer.commit(to: directory.path + "/x") } throws: {
            ($0 as? StagingError)?.code == StagingError.Code.invalidState
        }
        try await writer.write(Array("hello".utf8))
        await writer.discard()
        #expect(!exists(path))
        await writer.discard()
        await #expect(throws: StagingError.self) { try await StagingFileWriter(temporaryPath: directory.path + "/missing/.tmp-y", maximumBytes: 1) }
    }

    /// Other instances share the directory: only temporary files of dead instances (or, named the old way
    /// without an instance, old ones) go.
    @Test func sweepRemovesOnlyTemporaryFilesOfDeadInstances() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let area = StagingArea(root: directory.path + "/staging", instance: "me")
        #expect(try area.sweepTemporaryFiles(keeping: ["me"], quiet: 0, legacyGrace: 600) == [])
        var leftovers: [String] = []
        for tenant in ["acme", "globex"] {
            let inDirectory = try await area.inDirectory(tenant)
            for name in [".tmp-f1.dead-1", ".tmp-f2.me", ".tmp-f3.alive", ".tmp-f4", "1-done.csv", ".other", "tmp-3"] {
                #expect(FileManager.default.createFile(atPath: "\(inDirectory)/\(name)", contents: Data("x".utf8)))
            }
            leftovers.append("\(inDirectory)/.tmp-f1.dead-1")
            _ = try await area.outDirectory(tenant)
            #expect(FileManager.default.createFile(atPath: "\(try area.tenantDirectory(tenant))/out/.tmp-9", contents: nil))
        }
        #expect(try area.sweepTemporaryFiles(keeping: ["me", "alive"], quiet: 0, legacyGrace: 600) == leftovers.sorted())
        for path in leftovers { #expect(!exists(path)) }
        #expect(exists(area.root + "/acme/in/.tmp-f2.me") && exists(area.root + "/acme/in/.tmp-f3.alive"))
        #expect(exists(area.root + "/acme/in/.tmp-f4"), "a recent file named without an instance stays")
        #expect(try listed(area, "acme") == ["1-done.csv", "tmp-3"])
        #expect(exists(area.root + "/acme/in/.other"))
        #expect(exists(area.root + "/acme/out/.tmp-9"))
        let old = Date().addingTimeInterval(-700)
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: area.root + "/acme/in/.tmp-f4")
        #expect(try area.sweepTemporaryFiles(keeping: ["me"], quiet: 0, legacyGrace: 600).sorted()
            == [area.root + "/acme/in/.tmp-f3.alive", area.root + "/acme/in/.tmp-f4", area.root + "/globex/in/.tmp-f3.alive"])

        try await area.removeTenant("acme")
        #expect(!exists(area.root + "/acme"))
        try await area.removeTenant("acme")
        #expect(try listed(area, "acme") == [])
        #expect(try listed(area, "globex") == ["1-done.csv", "tmp-3"])
    }
}
