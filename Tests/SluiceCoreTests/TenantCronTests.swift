import Foundation
import SluiceCore
import Testing

@Suite struct TenantCronTests {
    private func utc(_ year: Int, _ month: Int, _ day: Int, _ hour: Int = 0, _ minute: Int = 0, _ second: Int = 0) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .gmt
        return calendar.date(from: DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second))!
    }

    private func next(_ expression: String, after date: Date, in zone: TimeZone = .gmt) throws -> Date? {
        try CronSchedule(expression).nextDate(after: date, in: zone)
    }

    @Test func everyHour() throws {
        #expect(try next("0 * * * *", after: utc(2024, 5, 10, 10, 30)) == utc(2024, 5, 10, 11))
        #expect(try next("0 * * * *", after: utc(2024, 5, 10, 10, 0)) == utc(2024, 5, 10, 11))
        #expect(try next("0 * * * *", after: utc(2024, 12, 31, 23, 59, 59)) == utc(2025, 1, 1, 0))
        #expect(try next("*/1 * * * *", after: utc(2024, 5, 10, 10, 0, 30)) == utc(2024, 5, 10, 10, 1))
    }

    @Test func everyQuarterHourDuringWorkingHours() throws {
        let schedule = "*/15 9-17 * * 1-5"
        // 2024-05-10 is a Friday.
        #expect(try next(schedule, after: utc(2024, 5, 10, 10, 7)) == utc(2024, 5, 10, 10, 15))
        #expect(try next(schedule, after: utc(2024, 5, 10, 17, 45)) == utc(2024, 5, 13, 9, 0))
        #expect(try next(schedule, after: utc(2024, 5, 11, 12, 0)) == utc(2024, 5, 13, 9, 0))
        #expect(try next(schedule, after: utc(2024, 5, 13, 6, 0)) == utc(2024, 5, 13, 9, 0))
    }

    @Test func firstOfTheMonth() throws {
        #expect(try next("0 0 1 * *", after: utc(2024, 1, 31, 12)) == utc(2024, 2, 1))
        #expect(try next("0 0 1 * *", after: utc(2024, 12, 15)) == utc(2025, 1, 1))
        #expect(try next("0 0 1 * *", after: utc(2024, 3, 1)) == utc(2024, 4, 1))
    }

    @Test func dayOfMonthOrDayOfWeekWhenBothAreRestricted() throws {
        // October 2024: Fridays are the 4th, 11th, 18th; the 13th is a Sunday.
        #expect(try next("0 0 13 * 5", after: utc(2024, 10, 11)) == utc(2024, 10, 13))
        #expect(try next("0 0 13 * 5", after: utc(2024, 10, 13)) == utc(2024, 10, 18))
        // With an unrestricted day of week only the 13th matches.
        #expect(try next("0 0 13 * *", after: utc(2024, 10, 1)) == utc(2024, 10, 13))
        // A day-of-month starting with * counts as unrestricted: both must match (even day and Friday).
        #expect(try next("0 0 */2 * fri", after: utc(2024, 10, 1)) == utc(2024, 10, 11))
    }

    @Test func namesSundaySevenAndImpossibleDates() throws {
        #expect(try next("0 0 * * 7", after: utc(2024, 10, 11)) == utc(2024, 10, 13))
        #expect(try next("0 0 * * SUN", after: utc(2024, 10, 11)) == utc(2024, 10, 13))
        #expect(try next("30 6 1 feb-mar *", after: utc(2024, 10, 1)) == utc(2025, 2, 1, 6, 30))
        #expect(try next("0 0 29 2 *", after: utc(2024, 3, 1)) == utc(2028, 2, 29))
        #expect(try next("0 0 30 2 *", after: utc(2024, 3, 1)) == nil)
        #expect(try next("10,20-22/2 * * * *", after: utc(2024, 1, 1, 0, 10)) == utc(2024, 1, 1, 0, 20))
        #expect(try next("10,20-22/2 * * * *", after: utc(2024, 1, 1, 0, 20)) == utc(2024, 1, 1, 0, 22))
    }

    @Test func timeZones() throws {
        let berlin = try #require(TimeZone(identifier: "Europe/Berlin"))
        #expect(try next("0 9 * * *", after: utc(2024, 6, 1), in: berlin) == utc(2024, 6, 1, 7))
        #expect(try next("0 9 * * *", after: utc(2024, 1, 1), in: berlin) == utc(2024, 1, 1, 8))
        // 02:30 does not exist in Berlin on 2024-03-31 (clocks jump from 02:00 to 03:00).
        #expect(try next("30 2 * * *", after: utc(2024, 3, 30, 12), in: berlin) == utc(2024, 4, 1, 0, 30))
    }

    @Test(arguments: [
        ("* * * *", nil, "expected 5 fields (minute hour day-of-month month day-of-week), found 4"),
        ("60 * * * *", "minute", "60 is out of range 0-59"),
        ("* 24 * * *", "hour", "24 is out of range 0-23"),
        ("* * 0 * *", "day-of-month", "0 is out of range 1-31"),
        ("* * * 13 *", "month", "13 is out of range 1-12"),
        ("* * * foo *", "month", "\"foo\" is not a number"),
        ("* * * * 8", "day-of-week", "8 is out of range 0-7"),
        ("*/0 * * * *", "minute", "step \"0\" is not a positive number"),
        ("* 5-1 * * *", "hour", "range \"5-1\" is reversed"),
        ("1,,2 * * * *", "minute", "\"\" is not a number"),
    ] as [(String, String?, String)])
    func parseErrorsNameTheField(expression: String, field: String?, message: String) {
        #expect(throws: CronScheduleError(field: field, message: message)) {
            try CronSchedule(expression)
        }
    }

    @Test func keepsTheExpression() throws {
        let schedule = try CronSchedule("*/15 9-17 * * 1-5")
        #expect(schedule.expression == "*/15 9-17 * * 1-5")
        #expect(schedule.description == "*/15 9-17 * * 1-5")
        #expect("\(CronScheduleError(field: "hour", message: "x"))" == "hour field: x")
    }
}
