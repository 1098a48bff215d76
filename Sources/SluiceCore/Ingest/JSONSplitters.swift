/// Splits NDJSON into lines (LF or CRLF; blank lines skipped; a UTF-8 BOM at the start ignored).
struct JSONLineSplitter {
    private var line: [UInt8] = []
    private var lineNumber = 1
    private var atStart = true

    mutating func feed(_ bytes: [UInt8], _ emit: ([UInt8], Int) -> Void) {
        var slice = bytes[...]
        if atStart {
            atStart = false
            if slice.starts(with: [0xEF, 0xBB, 0xBF]) { slice = slice.dropFirst(3) }
        }
        for byte in slice {
            if byte == UInt8(ascii: "\n") {
                flush(emit)
                lineNumber += 1
            } else {
                line.append(byte)
            }
        }
    }

    mutating func finish(_ emit: ([UInt8], Int) -> Void) { flush(emit) }

    private mutating func flush(_ emit: ([UInt8], Int) -> Void) {
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        if line.contains(where: { $0 != 0x20 && $0 != 0x09 }) { emit(line, lineNumber) }
        line.removeAll(keepingCapacity: true)
    }
}

/// Splits a JSON array of values into its elements' bytes without holding the whole array.
struct JSONArraySplitter {
    private enum Phase { case beforeArray, inArray, afterArray }
    private var phase = Phase.beforeArray
    private var element: [UInt8] = []
    private var depth = 0
    private var inString = false
    private var escaped = false

    mutating func feed(_ bytes: [UInt8], _ emit: ([UInt8]) -> Void) throws {
        for byte in bytes {
            switch phase {
            case .beforeArray:
                if byte == UInt8(ascii: "[") { phase = .inArray } else if !Self.isSpace(byte) && byte != 0xEF && byte != 0xBB && byte != 0xBF {
                    throw ServiceError(.invalid, "malformed_json", "a JSON file must hold one array of objects")
                }
            case .afterArray:
                if !Self.isSpace(byte) { throw ServiceError(.invalid, "malformed_json", "data follows the closing ]") }
            case .inArray:
                if inString {
                    element.append(byte)
                    if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                    continue
                }
                switch byte {
                case UInt8(ascii: "\""):
                    inString = true
                    element.append(byte)
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                    element.append(byte)
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    if depth > 0 {
                        depth -= 1
                        element.append(byte)
                    } else if byte == UInt8(ascii: "]") {
                        flush(emit)
                        phase = .afterArray
                    } else {
                        throw ServiceError(.invalid, "malformed_json", "unbalanced } in the JSON array")
                    }
                case UInt8(ascii: ",") where depth == 0:
                    flush(emit)
                default:
                    if !(depth == 0 && Self.isSpace(byte)) { element.append(byte) }
                }
            }
        }
    }

    func finish() throws {
        guard phase == .afterArray else { throw ServiceError(.invalid, "malformed_json", "the JSON array is not closed") }
    }

    private mutating func flush(_ emit: ([UInt8]) -> Void) {
        if !element.isEmpty { emit(element) }
        element.removeAll(keepingCapacity: true)
    }

    private static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }
}
