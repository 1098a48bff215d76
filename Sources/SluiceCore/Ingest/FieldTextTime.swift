/// Dates and timestamps: `YYYY-MM-DD` or a day count; ISO 8601 or epoch milliseconds.
extension FieldText {
    static let millisPerDay: Int64 = 86_400_000

    /// A `date`: `YYYY-MM-DD` or whole days since 1970-01-01, as `YYYY-MM-DD`.
    static func date(_ text: Bytes) throws(Failure) -> String {
        func invalid() -> Failure { Failure(code: RecordRejection.Code.invalidDate, message: "\(quoted(text)) is not a date") }
        if text.count == 10, try civilDate(text, invalid: invalid) != nil {
            return String(decoding: text, as: UTF8.self)
        }
        let days = try integer(text, bits: 32, code: RecordRejection.Code.invalidDate, what: "a date")
        return try format(days: days, millisOfDay: nil)
    }

    /// A `timestamp-millis`: epoch milliseconds or ISO 8601 (`T` or space; optional seconds, fraction
    /// and `Z`/`±HH:MM` offset, UTC without one), as UTC ISO 8601 text with `Z`.
    static func timestamp(_ text: Bytes) throws(Failure) -> String {
        func invalid() -> Failure { Failure(code: RecordRejection.Code.invalidTimestamp, message: "\(quoted(text)) is not a timestamp") }
        let millis: Int64
        if text.count >= 10, text[4] == UInt8(ascii: "-") {
            millis = try isoMillis(text, invalid: invalid)
        } else {
            millis = try integer(text, bits: 64, code: RecordRejection.Code.invalidTimestamp, what: "a timestamp")
        }
        return try timestamp(millis: millis)
    }

    /// Epoch milliseconds as UTC ISO 8601 text with `Z`.
    static func timestamp(millis: Int64) throws(Failure) -> String {
        let (days, millisOfDay) = millis.quotientAndRemainder(dividingBy: millisPerDay)
        return millisOfDay < 0
            ? try format(days: days - 1, millisOfDay: millisOfDay + millisPerDay)
            : try format(days: days, millisOfDay: millisOfDay)
    }

    /// The days since the epoch of a valid `YYYY-MM-DD` at the start of `text`, or `nil` if `text`
    /// does not have that shape; throws `invalid()` for an impossible date such as `2023-02-29`.
    private static func civilDate(_ text: Bytes, invalid: () -> Failure) throws(Failure) -> Int64? {
        guard text[4] == UInt8(ascii: "-"), text[7] == UInt8(ascii: "-"),
              let year = digits(text, 0, 4), let month = digits(text, 5, 2), let day = digits(text, 8, 2)
        else { return nil }
        guard year >= 1, (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year) else { throw invalid() }
        return daysFromCivil(year: year, month: month, day: day)
    }

    static func isoMillis(_ text: Bytes, invalid: () -> Failure) throws(Failure) -> Int64 {
        guard let days = try civilDate(text, invalid: invalid) else { throw invalid() }
        var millis = days * millisPerDay
        guard text.count > 10 else { return millis }
        let separator = text[10]
        guard separator == UInt8(ascii: "T") || separator == UInt8(ascii: "t") || separator == UInt8(ascii: " "),
              text.count >= 16, text[13] == UInt8(ascii: ":"),
              let hour = digits(text, 11, 2), let minute = digits(text, 14, 2), hour < 24, minute < 60
        else { throw invalid() }
        var seconds: Int64 = 0
        var index = 16
        if index < text.count, text[index] == UInt8(ascii: ":") {
            guard let value = digits(text, index + 1, 2), value < 60 else { throw invalid() }
            seconds = value
            index += 3
            if index < text.count, text[index] == UInt8(ascii: ".") || text[index] == UInt8(ascii: ",") {
                index += 1
                let start = index
                var fraction: Int64 = 0
                while index < text.count, isDigit(text[index]) {
                    // Milliseconds precision: digits past the third are dropped.
                    if index - start < 3 { fraction = fraction * 10 + Int64(text[index] &- UInt8(ascii: "0")) }
                    index += 1
                }
                guard index > start else { throw invalid() }
                for _ in min(index - start, 3)..<3 { fraction *= 10 }
                millis += fraction
            }
        }
        millis += ((hour * 60 + minute) * 60 + seconds) * 1000
        guard index < text.count else { return millis }
        switch text[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            guard index + 1 == text.count else { throw invalid() }
            return millis
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign: Int64 = text[index] == UInt8(ascii: "+") ? 1 : -1
            guard let offsetHours = digits(text, index + 1, 2), offsetHours < 24 else { throw invalid() }
            var offsetMinutes: Int64 = 0
            switch text.count - index {
            case 3: break
            case 5: offsetMinutes = digits(text, index + 3, 2) ?? 60
            case 6 where text[index + 3] == UInt8(ascii: ":"): offsetMinutes = digits(text, index + 4, 2) ?? 60
            default: throw invalid()
            }
            guard offsetMinutes < 60 else { throw invalid() }
            return millis - sign * (offsetHours * 60 + offsetMinutes) * 60_000
        default:
            throw invalid()
        }
    }

    /// The value of `count` ASCII digits at `start`, or `nil` if any is missing or not a digit.
    private static func digits(_ text: Bytes, _ start: Int, _ count: Int) -> Int64? {
        guard start + count <= text.count else { return nil }
        var value: Int64 = 0
        for byte in text[start..<start + count] {
            guard isDigit(byte) else { return nil }
            value = value * 10 + Int64(byte &- UInt8(ascii: "0"))
        }
        return value
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// `YYYY-MM-DD`, followed by `THH:MM:SS[.mmm]Z` when `millisOfDay` is given; years 1–9999 only.
    private static func format(days: Int64, millisOfDay: Int64?) throws(Failure) -> String {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        guard (1...9999).contains(year) else {
            throw Failure(code: RecordRejection.Code.outOfRange, message: "the year \(year) is outside 1–9999")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        func append(_ value: Int64, width: Int) {
            var divisor: Int64 = 1
            for _ in 1..<width { divisor *= 10 }
            while divisor > 0 {
                bytes.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                divisor /= 10
            }
        }
        append(year, width: 4)
        bytes.append(UInt8(ascii: "-"))
        append(month, width: 2)
        bytes.append(UInt8(ascii: "-"))
        append(day, width: 2)
        if let millisOfDay {
            let seconds = millisOfDay / 1000
            bytes.append(UInt8(ascii: "T"))
            append(seconds / 3600, width: 2)
            bytes.append(UInt8(ascii: ":"))
            append(seconds / 60 % 60, width: 2)
            bytes.append(UInt8(ascii: ":"))
            append(seconds % 60, width: 2)
            if millisOfDay % 1000 != 0 {
                bytes.append(UInt8(ascii: "."))
                append(millisOfDay % 1000, width: 3)
            }
            bytes.append(UInt8(ascii: "Z"))
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
