/// A strptime-style pattern for the `parse_timestamp` step, e.g. `%d/%m/%Y %H:%M:%S`.
///
/// Directives: `%Y` (4-digit year), `%y` (2 digits, 1970–2069), `%m`, `%d`, `%H`, `%I` with `%p`,
/// `%M`, `%S` (1–2 digits each), `%f` (fraction of a second, 1–9 digits), `%b` (month abbreviation),
/// `%z` (`Z`, `±HH:MM` or `±HHMM`) and `%%`. Other characters must match exactly. The names
/// `epoch_seconds` and `epoch_millis` read integer epoch times. Times without `%z` are in `utcOffset`.
struct TimestampFormat: Sendable {
    private enum Piece: Sendable, Equatable {
        case literal(UInt8)
        case year4, year2, month, day, hour24, hour12, minute, second, fraction, monthName, amPM, offset
    }

    private enum Mode: Sendable {
        case pattern([Piece])
        case epochSeconds, epochMillis
    }

    private let mode: Mode
    private let utcOffsetMinutes: Int64

    /// Parses `format`; the error message says what is wrong with it.
    init(_ format: String, utcOffsetMinutes: Int64 = 0) throws(FormatError) {
        self.utcOffsetMinutes = utcOffsetMinutes
        switch format {
        case "epoch_seconds": mode = .epochSeconds
        case "epoch_millis": mode = .epochMillis
        default:
            var pieces: [Piece] = []
            var bytes = Array(format.utf8).makeIterator()
            while let byte = bytes.next() {
                guard byte == UInt8(ascii: "%") else {
                    pieces.append(.literal(byte))
                    continue
                }
                guard let directive = bytes.next() else { throw FormatError(message: "the format ends with a lone %") }
                switch directive {
                case UInt8(ascii: "Y"): pieces.append(.year4)
                case UInt8(ascii: "y"): pieces.append(.year2)
                case UInt8(ascii: "m"): pieces.append(.month)
                case UInt8(ascii: "d"): pieces.append(.day)
                case UInt8(ascii: "H"): pieces.append(.hour24)
                case UInt8(ascii: "I"): pieces.append(.hour12)
                case UInt8(ascii: "M"): pieces.append(.minute)
                case UInt8(ascii: "S"): pieces.append(.second)
                case UInt8(ascii: "f"): pieces.append(.fraction)
                case UInt8(ascii: "b"): pieces.append(.monthName)
                case UInt8(ascii: "p"): pieces.append(.amPM)
                case UInt8(ascii: "z"): pieces.append(.offset)
                case UInt8(ascii: "%"): pieces.append(.literal(UInt8(ascii: "%")))
                default:
                    throw FormatError(message: "unsupported directive %\(Character(Unicode.Scalar(directive)))")
                }
            }
            guard pieces.contains(.year4) || pieces.contains(.year2), pieces.contains(.month) || pieces.contains(.monthName),
                  pieces.contains(.day) else {
                throw FormatError(message: "the format needs a year (%Y or %y), a month (%m or %b) and a day (%d)")
            }
            guard pieces.contains(.hour12) == pieces.contains(.amPM) else {
                throw FormatError(message: "%I and %p must be used together")
            }
            mode = .pattern(pieces)
        }
    }

    struct FormatError: Error {
        let message: String
    }

    private static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    /// The epoch milliseconds `text` denotes, or `nil` if it does not match the format.
    func millis(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        switch mode {
        case .epochSeconds: return Int64(text).flatMap { $0.multipliedReportingOverflow(by: 1000).overflow ? nil : $0 * 1000 }
        case .epochMillis: return Int64(text)
        case .pattern(let pieces): return Self.parse(bytes, pieces, defaultOffset: utcOffsetMinutes)
        }
    }

    private static func parse(_ bytes: [UInt8], _ pieces: [Piece], defaultOffset: Int64) -> Int64? {
        var index = 0
        func number(maxDigits: Int, minDigits: Int = 1) -> Int64? {
            var value: Int64 = 0
            let start = index
            while index < bytes.count, index - start < maxDigits, FieldText.isDigit(bytes[index]) {
                value = value * 10 + Int64(bytes[index] - UInt8(ascii: "0"))
                index += 1
            }
            return index - start >= minDigits ? value : nil
        }
        var year: Int64 = 1970, month: Int64 = 1, day: Int64 = 1, hour: Int64 = 0, minute: Int64 = 0, second: Int64 = 0
        var millis: Int64 = 0
        var pm: Bool?
        var offset = defaultOffset
        for piece in pieces {
            switch piece {
            case .literal(let byte):
                guard index < bytes.count, bytes[index] == byte else { return nil }
                index += 1
            case .year4: guard let value = number(maxDigits: 4, minDigits: 4) else { return nil }; year = value
            case .year2: guard let value = number(maxDigits: 2, minDigits: 2) else { return nil }; year = value < 70 ? 2000 + value : 1900 + value
            case .month: guard let value = number(maxDigits: 2) else { return nil }; month = value
            case .day: guard let value = number(maxDigits: 2) else { return nil }; day = value
            case .hour24, .hour12: guard let value = number(maxDigits: 2) else { return nil }; hour = value
            case .minute: guard let value = number(maxDigits: 2) else { return nil }; minute = value
            case .second: guard let value = number(maxDigits: 2) else { return nil }; second = value
            case .fraction:
                let start = index
                guard let value = number(maxDigits: 9) else { return nil }
                var scaled = value
                var digits = index - start
                while digits < 3 { scaled *= 10; digits += 1 }
                while digits > 3 { scaled /= 10; digits -= 1 }
                millis = scaled
            case .monthName:
                guard index + 3 <= bytes.count,
                      let position = months.firstIndex(of: String(decoding: bytes[index..<index + 3], as: UTF8.self).lowercased())
                else { return nil }
                month = Int64(position + 1)
                index += 3
            case .amPM:
                guard index + 2 <= bytes.count else { return nil }
                switch String(decoding: bytes[index..<index + 2], as: UTF8.self).uppercased() {
                case "AM": pm = false
                case "PM": pm = true
                default: return nil
                }
                index += 2
            case .offset:
                guard index < bytes.count else { return nil }
                if bytes[index] == UInt8(ascii: "Z") || bytes[index] == UInt8(ascii: "z") {
                    offset = 0
                    index += 1
                    continue
                }
                guard bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") else { return nil }
                let sign: Int64 = bytes[index] == UInt8(ascii: "+") ? 1 : -1
                index += 1
                guard let hours = number(maxDigits: 2, minDigits: 2) else { return nil }
                if index < bytes.count, bytes[index] == UInt8(ascii: ":") { index += 1 }
                guard let minutes = number(maxDigits: 2, minDigits: 2), hours < 24, minutes < 60 else { return nil }
                offset = sign * (hours * 60 + minutes)
            }
        }
        if let pm {
            guard (1...12).contains(hour) else { return nil }
            hour = hour % 12 + (pm ? 12 : 0)
        }
        guard index == bytes.count, (1...12).contains(month), day >= 1, day <= FieldText.daysIn(month: month, year: year),
              hour < 24, minute < 60, second < 60 else { return nil }
        let days = FieldText.daysFromCivil(year: year, month: month, day: day)
        return days * FieldText.millisPerDay + ((hour * 60 + minute) * 60 + second) * 1000 + millis - offset * 60_000
    }

    /// Parses an offset such as `+07:00`, `-0330` or `Z` into minutes.
    static func offsetMinutes(_ text: String) -> Int64? {
        if text == "Z" || text == "UTC" { return 0 }
        let bytes = Array(text.utf8)
        guard bytes.count == 6 || bytes.count == 5, bytes[0] == UInt8(ascii: "+") || bytes[0] == UInt8(ascii: "-") else { return nil }
        let digits = bytes.dropFirst().filter { $0 != UInt8(ascii: ":") }
        guard digits.count == 4, digits.allSatisfy(FieldText.isDigit),
              let hours = Int64(String(decoding: digits.prefix(2), as: UTF8.self)),
              let minutes = Int64(String(decoding: digits.suffix(2), as: UTF8.self)), hours < 24, minutes < 60 else { return nil }
        return (bytes[0] == UInt8(ascii: "+") ? 1 : -1) * (hours * 60 + minutes)
    }
}
