import Foundation

/// A UTC calendar day, the unit of partitioning of `sluice.ingestion_reports` and the tables partitioned
/// alongside it (``ReportPartitionMaintenance/PartitionedTable``).
///
/// Partition names and bounds are produced only from this value (never from input), because
/// `FOR VALUES` cannot take parameters.
struct ReportPartitionDay: Hashable, Comparable, Sendable {
    private static let secondsPerDay = 86_400.0

    /// Days since 1970-01-01 UTC.
    let index: Int

    init(index: Int) { self.index = index }

    /// The UTC day containing `date`.
    init(containing date: Date) {
        index = Int((date.timeIntervalSince1970 / Self.secondsPerDay).rounded(.down))
    }

    /// The day a partition of `table` named `<table>_YYYYMMDD` covers; nil for any other name.
    init?(partitionName name: String, of table: String = "ingestion_reports") {
        let prefix = table + "_"
        guard name.hasPrefix(prefix) else { return nil }
        let digits = name.dropFirst(prefix.count)
        guard digits.count == 8, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(digits) else {
            return nil
        }
        var parts = tm()
        parts.tm_year = Int32(value / 10_000 - 1900)
        parts.tm_mon = Int32(value / 100 % 100 - 1)
        parts.tm_mday = Int32(value % 100)
        let day = ReportPartitionDay(index: Int(timegm(&parts)) / 86_400)
        guard day.name(of: table) == name else { return nil }
        self = day
    }

    static func < (lhs: Self, rhs: Self) -> Bool { lhs.index < rhs.index }

    /// Midnight UTC at the start of the day.
    var start: Date { Date(timeIntervalSince1970: Double(index) * Self.secondsPerDay) }

    func advanced(by days: Int) -> ReportPartitionDay { ReportPartitionDay(index: index + days) }

    /// The name of the report partition, e.g. `ingestion_reports_20261121`.
    var name: String { name(of: "ingestion_reports") }

    /// The name of `table`'s partition for the day, e.g. `report_minutes_20261121`.
    func name(of table: String) -> String {
        let (year, month, day) = civil
        return table + "_" + pad(year, 4) + pad(month, 2) + pad(day, 2)
    }

    /// The day's start as a SQL `timestamptz` literal, e.g. `'2026-11-21 00:00:00+00'`.
    var boundLiteral: String {
        let (year, month, day) = civil
        return "'\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2)) 00:00:00+00'"
    }

    private var civil: (Int, Int, Int) {
        var time = time_t(index * 86_400)
        var parts = tm()
        gmtime_r(&time, &parts)
        return (Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday))
    }

    private func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
