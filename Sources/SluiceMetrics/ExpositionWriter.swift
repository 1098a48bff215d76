/// Appends exposition text to a single byte buffer without intermediate `String`s.
struct ExpositionWriter {
    let format: ExpositionFormat
    private(set) var bytes: [UInt8]

    init(format: ExpositionFormat, reservingCapacity capacity: Int) {
        self.format = format
        self.bytes = []
        bytes.reserveCapacity(capacity)
    }

    mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func append(_ raw: [UInt8]) {
        bytes.append(contentsOf: raw)
    }

    /// Writes `# HELP` and `# TYPE` lines for a family called `name`.
    mutating func appendMetadata(name: [UInt8], help: String, type: StaticString) {
        append("# HELP ")
        append(name)
        append(" ")
        for byte in help.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): append("\\\\")
            case UInt8(ascii: "\n"): append("\\n")
            case UInt8(ascii: "\"") where format == .openMetrics: append("\\\"")
            default: bytes.append(byte)
            }
        }
        append("\n# TYPE ")
        append(name)
        append(" ")
        append(type)
        append("\n")
    }

    /// Writes `name<suffix>{labels,extraLabel} ` up to the value.
    mutating func beginSample(name: [UInt8], suffix: StaticString = "", labels: [UInt8], extraLabel: [UInt8] = []) {
        append(name)
        append(suffix)
        if !labels.isEmpty || !extraLabel.isEmpty {
            append("{")
            append(labels)
            if !labels.isEmpty && !extraLabel.isEmpty { append(",") }
            append(extraLabel)
            append("}")
        }
        append(" ")
    }

    mutating func appendValue(_ value: Double) {
        Self.appendFormatted(value, to: &bytes)
        append("\n")
    }

    mutating func appendValue(_ value: UInt64) {
        if value == 0 {
            bytes.append(UInt8(ascii: "0"))
        } else {
            let start = bytes.count
            var remaining = value
            while remaining > 0 {
                bytes.append(UInt8(ascii: "0") + UInt8(remaining % 10))
                remaining /= 10
            }
            bytes[start...].reverse()
        }
        append("\n")
    }

    /// Formats a double as Prometheus expects: `+Inf`, `-Inf`, `NaN`, otherwise Swift's shortest
    /// round-trip representation (integral values render as `1.0`).
    static func appendFormatted(_ value: Double, to bytes: inout [UInt8]) {
        if value.isNaN {
            bytes.append(contentsOf: "NaN".utf8)
        } else if value == .infinity {
            bytes.append(contentsOf: "+Inf".utf8)
        } else if value == -.infinity {
            bytes.append(contentsOf: "-Inf".utf8)
        } else {
            bytes.append(contentsOf: value.description.utf8)
        }
    }

    /// `name="value"` pairs joined by commas, values escaped; computed once per child.
    static func labelText(names: [String], values: [String]) -> [UInt8] {
        var bytes: [UInt8] = []
        for (index, (name, value)) in zip(names, values).enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: name.utf8)
            bytes.append(contentsOf: "=\"".utf8)
            for byte in value.utf8 {
                switch byte {
                case UInt8(ascii: "\\"): bytes.append(contentsOf: "\\\\".utf8)
                case UInt8(ascii: "\""): bytes.append(contentsOf: "\\\"".utf8)
                case UInt8(ascii: "\n"): bytes.append(contentsOf: "\\n".utf8)
                default: bytes.append(byte)
                }
            }
            bytes.append(UInt8(ascii: "\""))
        }
        return bytes
    }
}
