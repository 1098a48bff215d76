/// Validation of metric and label names against the Prometheus data model.
enum MetricNames {
    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`
    static func isValidMetricName(_ name: String) -> Bool {
        var bytes = name.utf8.makeIterator()
        guard let first = bytes.next(), isLetter(first) || first == UInt8(ascii: "_") || first == UInt8(ascii: ":") else {
            return false
        }
        while let byte = bytes.next() {
            guard isLetter(byte) || isDigit(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ":") else {
                return false
            }
        }
        return true
    }

    /// `[a-zA-Z_][a-zA-Z0-9_]*`, and not starting with the reserved `__`.
    static func isValidLabelName(_ name: String) -> Bool {
        var bytes = name.utf8.makeIterator()
        guard let first = bytes.next(), isLetter(first) || first == UInt8(ascii: "_") else { return false }
        while let byte = bytes.next() {
            guard isLetter(byte) || isDigit(byte) || byte == UInt8(ascii: "_") else { return false }
        }
        return !name.hasPrefix("__")
    }

    /// Traps unless `name` and `labelNames` are valid and the label names are distinct.
    static func validate(name: String, labelNames: [String]) {
        precondition(isValidMetricName(name), "invalid metric name '\(name)'")
        for label in labelNames {
            precondition(isValidLabelName(label), "invalid label name '\(label)' for metric '\(name)'")
        }
        precondition(Set(labelNames).count == labelNames.count, "duplicate label names \(labelNames) for metric '\(name)'")
    }

    private static func isLetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}
