import Foundation

/// Parses byte sizes such as `512`, `100MB`, `1.5 GiB` or Kubernetes quantities such as `128Mi`.
///
/// `KB`, `MB`, `GB`, `TB` (and Kubernetes `k`, `M`, `G`, `T`) are powers of 1000; `KiB`, `MiB`, `GiB`,
/// `TiB` (and `Ki`, `Mi`, `Gi`, `Ti`) powers of 1024.
public enum ByteSize {
    private static let multipliers: [String: Double] = [
        "": 1, "B": 1,
        "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
        "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
        "KiB": 1024, "MiB": 1_048_576, "GiB": 1_073_741_824, "TiB": 1_099_511_627_776,
        "Ki": 1024, "Mi": 1_048_576, "Gi": 1_073_741_824, "Ti": 1_099_511_627_776,
    ]

    /// The number of bytes `text` denotes, or `nil` if it is not a non-negative size.
    public static func parse(_ text: String) -> Int? {
        guard let (number, unit) = splitQuantity(text), let multiplier = multipliers[unit] else { return nil }
        let bytes = (number * multiplier).rounded(.down)
        guard bytes < 9.2e18 else { return nil }
        return Int(bytes)
    }

    /// Whether `unit` is one of the binary suffixes (`Ki`, `MiB`, ...).
    static func isBinaryUnit(_ unit: String) -> Bool {
        unit.contains("i") && multipliers[unit] != nil
    }

    /// Splits `1.5 GiB` into `(1.5, "GiB")`; `nil` unless the text is a non-negative decimal and a unit.
    static func splitQuantity(_ text: String) -> (Double, String)? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let unitStart = trimmed.firstIndex { !($0.isASCII && ($0.isNumber || $0 == ".")) } ?? trimmed.endIndex
        let digits = trimmed[..<unitStart]
        guard !digits.isEmpty, digits.first != ".", digits.last != ".", let number = Double(digits), number >= 0 else { return nil }
        return (number, trimmed[unitStart...].trimmingCharacters(in: .whitespaces))
    }
}
