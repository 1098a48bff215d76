import Foundation

/// A stored tenant: its validated definition and bookkeeping.
public struct TenantRecord: Sendable, Encodable {
    public let definition: TenantDefinition
    /// `api`, or `config:<file>` for tenants defined in the configuration directory.
    public let source: String
    public let createdAt: Date
    public let updatedAt: Date

    public var id: String { definition.id }

    enum CodingKeys: String, CodingKey {
        case id, name, source, definition
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(definition.id, forKey: .id)
        try container.encode(definition.displayName, forKey: .name)
        try container.encode(source, forKey: .source)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
        try container.encode(definition, forKey: .definition)
    }
}

/// A tenant just created (or given a new key): the only moment the plaintext key exists.
public struct TenantCreation: Sendable {
    public let tenant: TenantRecord
    public let apiKey: String
    public let warnings: [String]
}
