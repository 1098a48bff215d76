/// A streaming splitter of a file holding one JSON array into its top-level elements.
///
/// Only the current element is buffered. Nesting, strings and escapes are tracked byte by byte so
/// brackets inside strings do not count; element content is otherwise checked by the decoder.
/// A UTF-8 byte-order mark at the start is skipped.
public struct JSONArraySplitter: Sendable {
    /// One top-level element: its bytes and 1-based position in the array.
    public struct Element: Sendable, Equatable {
        public var bytes: [UInt8]
        public var index: Int

        public init(bytes: [UInt8], index: Int) {
            self.bytes = bytes
            self.index = index
        }
    }

    private enum State {
        case beforeArray, afterOpen, afterComma, inElement, inString, inEscape, afterElement, done
    }

    private static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

    private var state = State.beforeArray
    private var element: [UInt8] = []
    /// Open brackets of the current element, innermost last.
    private var open: [UInt8] = []
    private var index = 0
    private var offset = 0

    /// Bytes held for the element not yet complete.
    public var pendingBytes: Int { element.count }

    public init() {}

    /// Splits `bytes`, calling `emit` for every element they complete.
    public mutating func feed(_ bytes: some Collection<UInt8>, _ emit: (Element) throws -> Void) throws {
        if let done = try bytes.withContiguousStorageIfAvailable({ try feed($0, emit) }) { return done }
        try Array(bytes).withUnsafeBufferPointer { try feed($0, emit) }
    }

    /// The state machine: strings, and the inside of nested elements up to their next bracket, are
    /// scanned here and copied as runs; the other states go byte by byte through ``consume(_:_:)``.
    private mutating func feed(_ buffer: UnsafeBufferPointer<UInt8>, _ emit: (Element) throws -> Void) throws {
        var position = 0
        while position < buffer.count {
            let start = position
            switch state {
            case .inString:
                while position < buffer.count, buffer[position] != UInt8(ascii: "\""), buffer[position] != UInt8(ascii: "\\") { position += 1 }
                if position < buffer.count {
                    state = buffer[position] == UInt8(ascii: "\\") ? .inEscape : .inElement
                    position += 1
                }
                element.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[start..<position]))
                offset += position - start
                // A string that is the whole element ends it.
                if state == .inElement, open.isEmpty { try endElement(emit) }
            case .inEscape:
                element.append(buffer[position])
                state = .inString
                offset += 1
                position += 1
            case .inElement where !open.isEmpty:
                while position < buffer.count, !Self.isStructural(buffer[position]) { position += 1 }
                let opensString = position < buffer.count && buffer[position] == UInt8(ascii: "\"")
                if opensString {
                    state = .inString
                    position += 1
                }
                element.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[start..<position]))
                offset += position - start
                if !opensString, position < buffer.count {
                    try consume(buffer[position], emit)
                    offset += 1
                    position += 1
                }
            default:
                try consume(buffer[position], emit)
                offset += 1
                position += 1
            }
        }
    }

    /// Bytes that open or close strings and nested values.
    private static func isStructural(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "{") || byte == UInt8(ascii: "}")
            || byte == UInt8(ascii: "[") || byte == UInt8(ascii: "]")
    }

    /// Ends the input, failing if the array is not closed.
    public func finish() throws {
        guard state == .done else {
            throw malformed(state == .beforeArray ? "the file holds no JSON array" : "the JSON array is never closed")
        }
    }

    /// One byte outside a string.
    private mutating func consume(_ byte: UInt8, _ emit: (Element) throws -> Void) throws {
        switch state {
        case .inString, .inEscape:
            preconditionFailure("strings are scanned by feed")
        case .inElement:
            try consumeInElement(byte, emit)
        case .beforeArray:
            if offset < 3 && byte == Self.byteOrderMark[offset] { return }
            if JSONBytes.isWhitespace(byte) { return }
            guard byte == UInt8(ascii: "[") else { throw malformed("the file does not start with '['") }
            state = .afterOpen
        case .afterOpen, .afterComma:
            if JSONBytes.isWhitespace(byte) { return }
            if byte == UInt8(ascii: "]") && state == .afterOpen {
                state = .done
                return
            }
            guard byte != UInt8(ascii: ","), byte != UInt8(ascii: "]") else { throw malformed("an array element is missing") }
            state = .inElement
            try consumeInElement(byte, emit)
        case .afterElement:
            if JSONBytes.isWhitespace(byte) { return }
            switch byte {
            case UInt8(ascii: ","): state = .afterComma
            case UInt8(ascii: "]"): state = .done
            default: throw malformed("expected ',' or ']' after an array element")
            }
        case .done:
            guard JSONBytes.isWhitespace(byte) else { throw malformed("unexpected data after the closing ']'") }
        }
    }

    private mutating func consumeInElement(_ byte: UInt8, _ emit: (Element) throws -> Void) throws {
        switch byte {
        case UInt8(ascii: "\""):
            element.append(byte)
            state = .inString
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            element.append(byte)
            open.append(byte)
        case UInt8(ascii: "}"), UInt8(ascii: "]"):
            guard let opener = open.popLast() else {
                // A closing bracket at depth 0 ends a scalar element and, if `]`, the array.
                guard byte == UInt8(ascii: "]"), !element.isEmpty else { throw malformed("unbalanced '\(Character(Unicode.Scalar(byte)))'") }
                try endElement(emit)
                state = .done
                return
            }
            guard opener == byte - 2 else { throw malformed("mismatched '\(Character(Unicode.Scalar(byte)))'") }
            element.append(byte)
            if open.isEmpty { try endElement(emit) }
        case UInt8(ascii: ",") where open.isEmpty:
            try endElement(emit)
            state = .afterComma
        default:
            if open.isEmpty && JSONBytes.isWhitespace(byte) {
                try endElement(emit)
            } else {
                element.append(byte)
            }
        }
    }

    private mutating func endElement(_ emit: (Element) throws -> Void) throws {
        index += 1
        state = .afterElement
        try emit(Element(bytes: element, index: index))
        // After the call the buffer is unshared again (unless `emit` kept the element), so it is reused.
        element.removeAll(keepingCapacity: true)
    }

    private func malformed(_ message: String) -> ServiceError {
        ServiceError(.invalid, "malformed_json", "\(message) (at byte \(offset))")
    }
}
