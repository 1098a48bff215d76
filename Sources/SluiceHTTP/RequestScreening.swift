extension ServerCore {
    /// Why a request is refused before it is routed, if it is: a path holding a control character (they
    /// stay escaped, see the shim's unescaper), or framing that two parties could read differently (request
    /// smuggling), refused before any body is read.
    static func refusal(path: String, headers: HTTPHeaders) -> HTTPError? {
        if holdsControlCharacter(path) {
            return HTTPError(status: 400, code: "invalid_path", message: "the path holds a control character (such as %00)")
        }
        let lengths = Set(headers.filter { $0.name.caseInsensitiveEquals("Content-Length") }.map(\.value))
        if lengths.count > 1 || (!lengths.isEmpty && headers.contains("Transfer-Encoding")) {
            return HTTPError(status: 400, code: "ambiguous_framing",
                             message: "the request has conflicting Content-Length or Transfer-Encoding headers",
                             headers: ["Connection": "close"])
        }
        return nil
    }

    /// Whether `path` holds an escaped control character (`%00`–`%1F`, `%7F`) or a raw one.
    static func holdsControlCharacter(_ path: String) -> Bool {
        let bytes = Array(path.utf8)
        for (index, byte) in bytes.enumerated() {
            if byte < 0x20 || byte == 0x7F { return true }
            guard byte == UInt8(ascii: "%"), index + 2 < bytes.count,
                  let value = UInt8(String(decoding: bytes[index + 1...index + 2], as: UTF8.self), radix: 16) else { continue }
            if value < 0x20 || value == 0x7F { return true }
        }
        return false
    }
}
