import Foundation
import Yams

/// The serialization of a tenant definition document.
public enum DefinitionFormat: String, Sendable, Hashable {
    case json, yaml

    /// The canonical media type.
    public var contentType: String {
        switch self {
        case .json: "application/json"
        case .yaml: "application/yaml"
        }
    }
}

/// A successfully parsed definition and anything suspicious that did not prevent loading it.
public struct ParsedTenantDefinition: Sendable, Equatable {
    public var definition: TenantDefinition
    /// Notes such as `service_agreement.resources.limits.cpu: "1Gi" is a memory quantity ...`.
    public var warnings: [String]
}

/// Parses tenant definitions from JSON or YAML, in the native layout or the seed layout
/// (`{"data_file_configuration": {...}, "service_agreement": {...}}`).
///
/// Every problem is collected with its path before failing, so one round trip shows them all.
public enum TenantDefinitionParser {
    /// Parses `bytes`, throwing ``TenantDefinitionError`` with every problem found.
    public static func parse(_ bytes: [UInt8], format: DefinitionFormat) throws(TenantDefinitionError) -> ParsedTenantDefinition {
        let root = try tree(bytes, format: format)
        var reader = DefinitionReader()
        let definition: TenantDefinition?
        if case .object(let members) = root, members["data_file_configuration"] != nil {
            definition = reader.seedLayout(root)
        } else {
            definition = reader.nativeLayout(root)
        }
        guard let definition, reader.problems.isEmpty else {
            throw TenantDefinitionError(problems: reader.problems)
        }
        return ParsedTenantDefinition(definition: definition, warnings: reader.warnings)
    }

    /// The format of a file, from its extension (`.json`, `.yaml`, `.yml`).
    public static func format(forFileName name: String) -> DefinitionFormat? {
        switch name.split(separator: ".").last?.lowercased() {
        case "json": .json
        case "yaml", "yml": .yaml
        default: nil
        }
    }

    /// The format of a request body, from its `Content-Type` (parameters such as `charset` are ignored).
    public static func format(forContentType contentType: String) -> DefinitionFormat? {
        let mediaType = contentType.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        switch mediaType {
        case "application/json": return .json
        case "application/yaml", "application/x-yaml", "text/yaml": return .yaml
        default: return nil
        }
    }

    // MARK: Generic tree

    static func tree(_ bytes: [UInt8], format: DefinitionFormat) throws(TenantDefinitionError) -> JSONValue {
        switch format {
        case .json:
            let value: JSONValue
            do {
                value = try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
            } catch {
                throw TenantDefinitionError(problems: ["(document): invalid JSON: \(describe(error))"])
            }
            let duplicates = JSONDuplicateKeys.problems(in: bytes)
            guard duplicates.isEmpty else { throw TenantDefinitionError(problems: duplicates) }
            return value
        case .yaml:
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw TenantDefinitionError(problems: ["(document): not valid UTF-8"])
            }
            let node: Node?
            do {
                node = try Yams.compose(yaml: text)
            } catch {
                throw TenantDefinitionError(problems: ["(document): invalid YAML: \(error)"])
            }
            guard let node else { throw TenantDefinitionError(problems: ["(document): is empty"]) }
            var problems: [String] = []
            var budget = Budget()
            let value = jsonValue(node, path: "", depth: 0, budget: &budget, problems: &problems)
            guard problems.isEmpty else { throw TenantDefinitionError(problems: problems) }
            return value
        }
    }

    private static func describe(_ error: any Error) -> String {
        guard case DecodingError.dataCorrupted(let context) = error else { return "\(error)" }
        return (context.underlyingError.map { "\($0)" }) ?? context.debugDescription
    }

    /// Bounds on the value tree a YAML document expands to. Composing shares the node an alias names, but
    /// converting expands every use: nine anchors nested nine deep are 9⁹ values from 2 KB of text.
    struct Budget {
        /// Values (scalars, sequences, mappings) at most; a real definition has a few hundred.
        static let maximumValues = 100_000
        /// Nesting at most.
        static let maximumDepth = 64
        var remaining = maximumValues
        var exceeded = false
    }

    /// Converts a YAML node using its resolved tag; timestamps and other tags stay strings. Stops, with one
    /// problem, once `budget` is spent or the nesting is too deep.
    private static func jsonValue(_ node: Node, path: String, depth: Int, budget: inout Budget,
                                  problems: inout [String]) -> JSONValue {
        guard !budget.exceeded else { return .null }
        budget.remaining -= 1
        guard budget.remaining >= 0, depth <= Budget.maximumDepth else {
            budget.exceeded = true
            problems.append("\(path.isEmpty ? "(document)" : path): the document expands to more than \(Budget.maximumValues) "
                            + "values or nests deeper than \(Budget.maximumDepth) levels (YAML aliases?)")
            return .null
        }
        switch node {
        case .scalar(let scalar):
            switch Tag.Name(rawValue: node.tag.description) {
            case .null: return .null
            case .bool: return node.bool.map(JSONValue.bool) ?? .string(scalar.string)
            case .int: return node.int.map { .number(Double($0)) } ?? .string(scalar.string)
            case .float:
                // JSON has no infinities or NaN (`.inf`, `.nan`): such a definition could not be stored or answered.
                guard let number = node.float else { return .string(scalar.string) }
                guard number.isFinite else {
                    problems.append("\(path.isEmpty ? "(document)" : path): \(scalar.string) is not a finite number")
                    return .null
                }
                return .number(number)
            default: return .string(scalar.string)
            }
        case .sequence(let sequence):
            return .array(sequence.enumerated().map { index, item in
                jsonValue(item, path: DefinitionReader.path(path, index), depth: depth + 1, budget: &budget, problems: &problems)
            })
        case .mapping(let mapping):
            var members: [String: JSONValue] = [:]
            for (key, value) in mapping {
                guard case .scalar(let scalar) = key else {
                    problems.append("\(path.isEmpty ? "(document)" : path): keys must be scalars")
                    continue
                }
                let memberPath = DefinitionReader.path(path, scalar.string)
                if members[scalar.string] != nil { problems.append("\(memberPath): duplicate key") }
                members[scalar.string] = jsonValue(value, path: memberPath, depth: depth + 1, budget: &budget, problems: &problems)
            }
            return .object(members)
        case .alias:
            problems.append("\(path.isEmpty ? "(document)" : path): unresolved YAML alias")
            return .null
        }
    }
}
