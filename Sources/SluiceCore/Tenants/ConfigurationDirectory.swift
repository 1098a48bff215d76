import Foundation

/// The tenant definitions of a configuration directory: `DIR/tenants/*.{yaml,yml,json}`.
public enum ConfigurationDirectory {
    /// Every definition in `directory/tenants`, sorted by file name; any invalid file fails the whole
    /// read, listing its problems. An external app's program given as a relative path (`apps/x.sh`) is
    /// taken from `directory`.
    public static func tenantDefinitions(in directory: String) throws -> [(file: String, definition: ParsedTenantDefinition)] {
        let tenantsDirectory = URL(fileURLWithPath: directory).appendingPathComponent("tenants")
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: tenantsDirectory.path) else { return [] }
        var parsed: [(file: String, definition: ParsedTenantDefinition)] = []
        for name in names.sorted() {
            guard let format = TenantDefinitionParser.format(forFileName: name) else { continue }
            let path = tenantsDirectory.appendingPathComponent(name).path
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            do {
                var definition = try TenantDefinitionParser.parse(bytes, format: format)
                let base = URL(fileURLWithPath: directory).standardizedFileURL.path
                definition.definition.ingestApp.resolveProgram(relativeTo: base)
                definition.definition.streamApp?.resolveProgram(relativeTo: base)
                parsed.append((name, definition))
            } catch {
                throw ServiceError(.invalid, error.code.rawValue, "tenant definition \(path) is invalid", details: error.problems)
            }
        }
        return parsed
    }
}

extension IngestApp {
    /// Makes a relative program path (`apps/x.sh`, not a bare name looked up on `PATH`) absolute under `base`.
    mutating func resolveProgram(relativeTo base: String) {
        guard kind == .external, let program = command.first, program.contains("/"), !program.hasPrefix("/") else { return }
        command[0] = URL(fileURLWithPath: program, relativeTo: URL(fileURLWithPath: base + "/")).standardizedFileURL.path
    }
}
