import Foundation

/// Finds keys repeated within one object of a JSON document. `JSONDecoder` accepts them and keeps one
/// value, so `{"id": "a", …, "id": "b"}` would load silently; YAML definitions refuse them while parsing.
enum JSONDuplicateKeys {
    private enum Frame {
        case object(path: String, keys: Set<String>, key: String?, expectingKey: Bool)
        case array(path: String, index: Int)
    }

    /// `path: duplicate key` for each repeated key, in document order. `bytes` should be JSON the decoder accepted;
    /// anything else is scanned without harm.
    static func problems(in bytes: [UInt8]) -> [String] {
        var problems: [String] = []
        var frames: [Frame] = []
        var position = 0
        while position < bytes.count {
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "\""):
                let end = stringEnd(bytes, from: position)
                if case .object(let path, var keys, _, true) = frames.last {
                    let key = decodedString(bytes[position..<end])
                    if !keys.insert(key).inserted { problems.append("\(DefinitionReader.path(path, key)): duplicate key") }
                    frames[frames.count - 1] = .object(path: path, keys: keys, key: key, expectingKey: false)
                }
                position = end
                continue
            case UInt8(ascii: "{"):
                frames.append(.object(path: childPath(frames.last), keys: [], key: nil, expectingKey: true))
            case UInt8(ascii: "["):
                frames.append(.array(path: childPath(frames.last), index: 0))
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                // Never assume balance: Foundation's decoder accepts bytes after a NUL that it ignores (`2\0]`).
                if !frames.isEmpty { frames.removeLast() }
            case UInt8(ascii: ","):
                switch frames.last {
                case .object(let path, let keys, let key, _):
                    frames[frames.count - 1] = .object(path: path, keys: keys, key: key, expectingKey: true)
                case .array(let path, let index):
                    frames[frames.count - 1] = .array(path: path, index: index + 1)
                case nil: break
                }
            default: break
            }
            position += 1
        }
        return problems
    }

    /// The path of a value nested in `parent` (the document itself when there is none).
    private static func childPath(_ parent: Frame?) -> String {
        switch parent {
        case .object(let path, _, let key, _): DefinitionReader.path(path, key ?? "")
        case .array(let path, let index): DefinitionReader.path(path, index)
        case nil: ""
        }
    }

    /// The index just past the string literal starting at `start` (its opening quote).
    private static func stringEnd(_ bytes: [UInt8], from start: Int) -> Int {
        var position = start + 1
        while position < bytes.count, bytes[position] != UInt8(ascii: "\"") {
            position += bytes[position] == UInt8(ascii: "\\") ? 2 : 1
        }
        return min(position + 1, bytes.count)
    }

    /// A string literal's value, escapes decoded (`"a"` and `"\u0061"` are the same key).
    private static func decodedString(_ literal: ArraySlice<UInt8>) -> String {
        (try? JSONDecoder().decode(String.self, from: Data(literal))) ?? String(decoding: literal, as: UTF8.self)
    }
}
