import Foundation

/// The tenant definitions of a configuration directory: `DIR/tenants/*.{yaml,yml,json}`.
public enum ConfigurationDirectory {
    /// Every definition in `directory/tenants`, sorted by file name; any invalid file fails the whole
    /// read, listing its problems.
    public static func tenantDefinitions(in directory: String) throws -> [(file: String, definition: ParsedTenantDefinition)] {
        let tenantsDirectory = URL(fileURLWithPath: directory).appendingPathComponent("tenants")
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: tenantsDirectory.path) else { return [] }
        var parsed: [(file: String, definition: ParsedTenantDefinition)] = []
        for name in names.sorted() {
            guard let format = TenantDefinitionParser.format(forFileName: name) else { continue }
            let path = tenantsDirectory.appendingPathComponent(name).path
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            do {
                parsed.append((name, try TenantDefinitionParser.parse(bytes, format: format)))
            } catch {
                throw ServiceError(.invalid, error.code.rawValue, "tenant definition \(path) is invalid", details: error.problems)
            }
        }
        return parsed
    }
}
