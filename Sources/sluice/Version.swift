import ArgumentParser
import SluiceServer

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version and source revision.")

    func run() {
        print("sluice \(SluiceBuild.version) (revision \(SluiceBuild.revision))")
    }
}
