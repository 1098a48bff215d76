import Crypto

/// Tenant API keys: random secrets shown once; only their SHA-256 is stored.
public enum APIKey {
    /// A new random key, `sluice_` followed by 48 hex characters (192 bits).
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<24).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return "sluice_" + hex(bytes)
    }

    /// The stored form of a key.
    public static func hash(_ key: String) -> String {
        hex(Array(SHA256.hash(data: Array(key.utf8))))
    }

    /// The first characters of a key, kept to tell keys apart without revealing them.
    public static func prefix(_ key: String) -> String { String(key.prefix(12)) }

    /// Compares two secrets in time independent of where they differ.
    public static func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
        let left = Array(lhs.utf8), right = Array(rhs.utf8)
        guard left.count == right.count else { return false }
        var difference: UInt8 = 0
        for index in left.indices { difference |= left[index] ^ right[index] }
        return difference == 0
    }
}

/// Lowercase hexadecimal of `bytes`.
func hex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}
