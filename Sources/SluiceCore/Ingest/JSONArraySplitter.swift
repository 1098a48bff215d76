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
        for byte in bytes {
            try consume(byte, emit)
            offset += 1
        }
    }

    /// Ends the input, failing if the array is not closed.
    public func finish() throws {
        guard state == .done else {
            throw malformed(state == .beforeArray ? "the file holds no JSON array" : "the JSON array is never closed")
        }
    }

    private mutating func consume(_ byte: UInt8, _ emit: (Element) throws -> Void) throws {
        switch state {
        case .inString:
            element.append(byte)
            if byte == UInt8(ascii: "\\") {
                state = .inEscape
            } else if byte == UInt8(ascii: "\"") {
                state = .inElement
                if open.isEmpty { try endElement(emit) }
            }
        case .inEscape:
            element.append(byte)
            state = .inString
        case .inElement:
            try consumeInElement(byte, emit)
        case .beforeArray:
            if offset < 3 && byte == [0xEF, 0xBB, 0xBF][offset] { return }
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
        let bytes = element
        element.removeAll(keepingCapacity: true)
        try emit(Element(bytes: bytes, index: index))
    }

    private func malformed(_ message: String) -> ServiceError {
        ServiceError(.invalid, "malformed_json", "\(message) (at byte \(offset))")
    }
}
