import Foundation

/// A standard five-field cron schedule: minute, hour, day of month, month, day of week.
///
/// Fields accept `*`, numbers, ranges `a-b`, lists `a,b`, steps `*/n`, `a-b/n` and `a/n`, month names
/// (`jan`-`dec`) and day names (`sun`-`sat`); day of week 7 is Sunday. As in Vixie cron, when both the
/// day of month and the day of week are restricted (do not start with `*`), a day matches if either does.
public struct CronSchedule: Sendable, Equatable, CustomStringConvertible {
    /// The expression as written.
    public let expression: String
    private let minutes: UInt64
    private let hours: UInt64
    private let daysOfMonth: UInt64
    private let months: UInt64
    private let daysOfWeek: UInt64
    private let dayOfMonthRestricted: Bool
    private let dayOfWeekRestricted: Bool

    /// Parses `expression`, throwing an error that names the offending field.
    public init(_ expression: String) throws(CronScheduleError) {
        let parts = expression.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard parts.count == 5 else {
            throw CronScheduleError(field: nil, message: "expected 5 fields (minute hour day-of-month month day-of-week), found \(parts.count)")
        }
        self.expression = expression
        minutes = try Self.parseField(parts[0], .minute)
        hours = try Self.parseField(parts[1], .hour)
        daysOfMonth = try Self.parseField(parts[2], .dayOfMonth)
        months = try Self.parseField(parts[3], .month)
        var weekdays = try Self.parseField(parts[4], .dayOfWeek)
        if weekdays & (1 << 7) != 0 { weekdays = (weekdays | 1) & ~(1 << 7) }
        daysOfWeek = weekdays
        dayOfMonthRestricted = !parts[2].hasPrefix("*")
        dayOfWeekRestricted = !parts[4].hasPrefix("*")
    }

    public var description: String { expression }

    /// Schedules are equal when their expressions are identical.
    public static func == (lhs: CronSchedule, rhs: CronSchedule) -> Bool {
        lhs.expression == rhs.expression
    }

    /// The first time strictly after `date` (at a whole minute) that the schedule fires, or `nil` if it
    /// never fires (e.g. `0 0 30 2 *`).
    public func nextDate(after date: Date, in timeZone: TimeZone = .gmt) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let start = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        guard var year = start.year, var month = start.month, var day = start.day,
              let startHour = start.hour, let startMinute = start.minute else { return nil }
        // 28 years repeat the Gregorian calendar's weekdays (within a century), so this covers every pattern.
        for dayIndex in 0..<(366 * 29) {
            if matchesDay(year: year, month: month, day: day) {
                for hour in 0..<24 where hours & (1 << hour) != 0 {
                    if dayIndex == 0 && hour < startHour { continue }
                    for minute in 0..<60 where minutes & (1 << minute) != 0 {
                        if dayIndex == 0 && hour == startHour && minute < startMinute { continue }
                        let components = DateComponents(year: year, month: month, day: day, hour: hour, minute: minute)
                        guard let candidate = calendar.date(from: components), candidate > date else { continue }
                        let actual = calendar.dateComponents([.hour, .minute], from: candidate)
                        // Skip wall-clock times that do not exist on this day (DST gaps).
                        if actual.hour == hour && actual.minute == minute { return candidate }
                    }
                }
            }
            day += 1
            if day > Self.daysIn(month: month, year: year) {
                day = 1
                month += 1
                if month > 12 { month = 1; year += 1 }
            }
        }
        return nil
    }

    private func matchesDay(year: Int, month: Int, day: Int) -> Bool {
        guard months & (1 << month) != 0 else { return false }
        let domMatch = daysOfMonth & (1 << day) != 0
        let dowMatch = daysOfWeek & (1 << Self.weekday(year: year, month: month, day: day)) != 0
        if dayOfMonthRestricted && dayOfWeekRestricted { return domMatch || dowMatch }
        return domMatch && dowMatch
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// 0 = Sunday (Sakamoto's method).
    private static func weekday(year: Int, month: Int, day: Int) -> Int {
        let offsets = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4]
        let y = month < 3 ? year - 1 : year
        return (y + y / 4 - y / 100 + y / 400 + offsets[month - 1] + day) % 7
    }

    // MARK: Parsing

    private enum Field: String {
        case minute, hour
        case dayOfMonth = "day-of-month"
        case month
        case dayOfWeek = "day-of-week"

        var range: ClosedRange<Int> {
            switch self {
            case .minute: 0...59
            case .hour: 0...23
            case .dayOfMonth: 1...31
            case .month: 1...12
            case .dayOfWeek: 0...7
            }
        }

        var names: [String] {
            switch self {
            case .month: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
            case .dayOfWeek: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
            default: []
            }
        }
    }

    private static func parseField(_ text: String, _ field: Field) throws(CronScheduleError) -> UInt64 {
        var bits: UInt64 = 0
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = item.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { throw CronScheduleError(field: field.rawValue, message: "\"\(item)\" has more than one step") }
            var step = 1
            if pieces.count == 2 {
                guard let value = Int(pieces[1]), value > 0 else {
                    throw CronScheduleError(field: field.rawValue, message: "step \"\(pieces[1])\" is not a positive number")
                }
                step = value
            }
            let base = pieces[0]
            let bounds: ClosedRange<Int>
            if base == "*" {
                bounds = field.range
            } else if let dash = base.firstIndex(of: "-") {
                let low = try value(base[..<dash], field), high = try value(base[base.index(after: dash)...], field)
                guard low <= high else { throw CronScheduleError(field: field.rawValue, message: "range \"\(base)\" is reversed") }
                bounds = low...high
            } else {
                let low = try value(base, field)
                bounds = low...(pieces.count == 2 ? field.range.upperBound : low)
            }
            for value in stride(from: bounds.lowerBound, through: bounds.upperBound, by: step) { bits |= 1 << value }
        }
        return bits
    }

    private static func value(_ text: Substring, _ field: Field) throws(CronScheduleError) -> Int {
        if let index = field.names.firstIndex(of: text.lowercased()) {
            return index + (field == .month ? 1 : 0)
        }
        guard let number = Int(text) else {
            throw CronScheduleError(field: field.rawValue, message: "\"\(text)\" is not a number")
        }
        guard field.range.contains(number) else {
            throw CronScheduleError(
                field: field.rawValue,
                message: "\(number) is out of range \(field.range.lowerBound)-\(field.range.upperBound)")
        }
        return number
    }
}

/// A cron expression that cannot be parsed; ``field`` names the offending field.
public struct CronScheduleError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The machine-readable code, `invalid_cron_schedule`.
    public var code: String { "invalid_cron_schedule" }
    /// The field at fault (`minute`, `hour`, `day-of-month`, `month`, `day-of-week`), or `nil` if the
    /// expression as a whole is malformed.
    public var field: String?
    public var message: String

    public init(field: String?, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { field.map { "\($0) field: \(message)" } ?? message }
}
