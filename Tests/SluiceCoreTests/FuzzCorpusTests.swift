import Foundation
import SluiceFuzzTargets
import Testing

/// Every fuzz target's seed corpus and saved findings (`Tests/Fuzz/TARGET`), run without sanitizers: an
/// input that once crashed or broke an invariant stays a regression test.
@Suite struct FuzzCorpusTests {
    static let corpusRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    @Test(arguments: FuzzTarget.allCases) func corpusPasses(_ target: FuzzTarget) throws {
        let directory = Self.corpusRoot.appendingPathComponent(target.rawValue)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        #expect(!files.isEmpty, "no seeds in \(directory.path)")
        for file in files {
            let input = try [UInt8](Data(contentsOf: directory.appendingPathComponent(file)))
            #expect(throws: Never.self, "\(target.rawValue)/\(file)") { try target.run(input) }
        }
    }
}
