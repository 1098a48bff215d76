import Foundation
import SluiceFuzzTargets

/// Runs one fuzz target, chosen by `SLUICE_FUZZ_TARGET`.
///
/// Built by `scripts/fuzz` with `-sanitize=fuzzer,address -DSLUICE_FUZZING`, this is a libFuzzer binary
/// taking libFuzzer's flags and corpus directories. Built normally, it runs the target once on each file
/// named (or in each directory named), so a crash found by fuzzing can be replayed without sanitizers.
@main
struct SluiceFuzz {
    static func main() {
        guard let name = ProcessInfo.processInfo.environment["SLUICE_FUZZ_TARGET"], let target = FuzzTarget(rawValue: name) else {
            FileHandle.standardError.write(Data("set SLUICE_FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
            exit(64)
        }
        selected = target
        #if SLUICE_FUZZING
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, LLVMFuzzerTestOneInput))
        #else
        var failed = false
        for path in CommandLine.arguments.dropFirst() {
            for file in files(at: path) {
                guard let input = FileManager.default.contents(atPath: file) else { continue }
                do {
                    try target.run(Array(input))
                } catch {
                    print("\(file): \(error)")
                    failed = true
                }
            }
        }
        exit(failed ? 1 : 0)
        #endif
    }

    /// The target chosen at start; libFuzzer's callback is a C function and cannot capture it.
    nonisolated(unsafe) static var selected = FuzzTarget.csv

    /// Runs the selected target, crashing on a finding so libFuzzer saves the input.
    static func runSelected(_ input: [UInt8]) {
        do {
            try selected.run(input)
        } catch {
            fatalError("\(error)")
        }
    }

    /// `path` if it is a file, else the files directly in it.
    static func files(at path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.sorted().map { "\(path)/\($0)" }
    }
}

#if SLUICE_FUZZING
/// Runs the selected target on one input (libFuzzer's sanitizer runtime links this name in even when
/// the driver is started from `main`).
@_cdecl("LLVMFuzzerTestOneInput")
public func LLVMFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    SluiceFuzz.runSelected(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

/// libFuzzer's entry point for programs with their own `main`.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt
#endif
