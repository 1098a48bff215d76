import Glibc

/// A POSIX extended regular expression, compiled once and matched from any thread (glibc's `regexec`
/// only reads the compiled pattern, so concurrent matching is safe; hence `@unchecked Sendable`).
///
/// A value matches when the pattern is found anywhere in it; anchor with `^…$` for a whole match.
final class PatternMatcher: @unchecked Sendable {
    struct PatternError: Error {
        let message: String
    }

    let pattern: String
    private let compiled: UnsafeMutablePointer<regex_t>

    init(_ pattern: String) throws(PatternError) {
        let compiled = UnsafeMutablePointer<regex_t>.allocate(capacity: 1)
        let status = regcomp(compiled, pattern, REG_EXTENDED | REG_NOSUB)
        guard status == 0 else {
            defer { compiled.deallocate() }
            var buffer = [CChar](repeating: 0, count: 256)
            regerror(status, compiled, &buffer, buffer.count)
            let reason = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw PatternError(message: "\"\(pattern)\" is not a valid regular expression: \(reason)")
        }
        self.pattern = pattern
        self.compiled = compiled
    }

    deinit {
        regfree(compiled)
        compiled.deallocate()
    }

    func matches(_ text: String) -> Bool {
        regexec(compiled, text, 0, nil, 0) == 0
    }
}
