import Foundation

/// SluiceAPI's resources (the web console, the OpenAPI description), shipped beside the binary.
enum BundledResources {
    /// The file or folder `name` in the resources; nil when the binary was copied without them.
    static func url(_ name: String) -> URL? {
        Bundle.module.url(forResource: "Resources", withExtension: nil)?.appendingPathComponent(name)
    }
}
