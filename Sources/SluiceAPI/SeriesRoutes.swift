import Foundation
import SluiceCore
import SluiceHTTP

/// `GET /api/v1/tenants/{tenant}/series`: a series over a range, answered in the shape of Prometheus's
/// `query_range` result so tools that read Prometheus read it. `tenant` `*` (admin only) is every tenant.
public struct SeriesRoutes: Sendable {
    private let store: SeriesStore
    private let auth: Authenticator

    public init(store: SeriesStore, auth: Authenticator) {
        self.store = store
        self.auth = auth
    }

    public var routes: [Route] {
        [
            Route(.get, "/api/v1/tenants/{tenant}/series", .streaming { request, _ in
                try await answering {
                    let tenant = request.pathParameter("tenant")
                    if tenant == "*" { try auth.requireAdmin(request) } else { try await auth.requireTenant(request, tenant) }
                    let query = try Self.query(request, tenants: tenant == "*" ? nil : [tenant])
                    // The platform's readiness is not a tenant's to read.
                    if !query.series.isPerTenant { try auth.requireAdmin(request) }
                    let results = try await store.range(query)
                    return .json(QueryRangeAnswer(results.map { result in
                        var metric = ["__name__": query.series.rawValue]
                        if let tenant = result.tenant { metric["tenant"] = tenant }
                        if let kind = query.kind { metric["path"] = kind.rawValue }
                        return .init(metric: metric, values: result.points.map { .init(time: $0.time, value: $0.value) })
                    }))
                }
            }),
        ]
    }

    /// Reads `metric`, `from`, `to`, `step`, `window` (default: the step) and `path` (`batch`, `stream`).
    private static func query(_ request: HTTPRequest, tenants: [String]?) throws -> SeriesRangeRequest {
        guard let name = request.query["metric"] else {
            throw HTTPError.badRequest("invalid_parameter", "metric is required: one of \(Series.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let series = Series(rawValue: name) else {
            throw HTTPError.badRequest("unknown_series", "metric \"\(name)\" is not one of \(Series.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let to = try time(request, "to") ?? Date()
        let from = try time(request, "from") ?? to.addingTimeInterval(-3600)
        guard from <= to else { throw HTTPError.badRequest("invalid_parameter", "from must not be after to") }
        let step = try seconds(request, "step") ?? 60
        let window = try seconds(request, "window") ?? step
        let points = to.timeIntervalSince(from) / Double(step)
        guard points < Double(SeriesRangeRequest.maximumPoints) else {
            throw HTTPError.badRequest("too_many_points",
                                       "from, to and step ask for more than \(SeriesRangeRequest.maximumPoints) points; use a larger step")
        }
        let kind = try request.choice("path", of: IngestionReport.Kind.allCases.map(\.rawValue)).flatMap(IngestionReport.Kind.init(rawValue:))
        let query = SeriesRangeRequest(series: series, tenants: tenants, kind: kind, from: from, to: to, step: step, window: window)
        guard window / query.bucketSeconds <= SeriesRangeRequest.maximumBucketsPerPoint else {
            throw HTTPError.badRequest("invalid_parameter", "window must be a multiple of the step, or of a minute, at most \(SeriesRangeRequest.maximumBucketsPerPoint) times it")
        }
        // Each point adds up its window's buckets, and a backlog point joins the files of a week: bounded work.
        guard points * Double(window / query.bucketSeconds) <= Double(SeriesRangeRequest.maximumBucketSums),
              series.source != .backlog || points <= Double(SeriesRangeRequest.maximumBacklogPoints) else {
            throw HTTPError.badRequest("too_many_points",
                                       "the range asks for too much work (points × buckets per point over \(SeriesRangeRequest.maximumBucketSums), or backlog points over \(SeriesRangeRequest.maximumBacklogPoints)); use a larger step or a shorter window")
        }
        return query
    }

    /// A time as Prometheus takes it: RFC 3339 or Unix seconds.
    private static func time(_ request: HTTPRequest, _ name: String) throws -> Date? {
        guard let text = request.query[name] else { return nil }
        // Either way, between 1583 and 9999 (see ReportRoutes.earliest): years before 1 failed in the store.
        let seconds = Double(text).flatMap { $0.isFinite ? Date(timeIntervalSince1970: $0) : nil }
        guard let date = seconds ?? (try? Date(text, strategy: .iso8601)), (ReportRoutes.earliest...ReportRoutes.latest).contains(date) else {
            throw HTTPError.badRequest("invalid_time", "\(name) must be an RFC 3339 time (2026-12-06T10:00:00Z) or Unix seconds, from 1583 to 9999")
        }
        return date
    }

    /// Whole seconds from 1 s to 31 days: a number, or a duration such as `30s`, `5m`, `1h`.
    private static func seconds(_ request: HTTPRequest, _ name: String) throws -> Int? {
        guard let text = request.query[name] else { return nil }
        guard let seconds = Int(text) ?? MonitorConfiguration.durationSeconds(text), (1...31 * 86_400).contains(seconds) else {
            throw HTTPError.badRequest("invalid_parameter", "\(name) must be whole seconds from 1s to 31d, such as 60 or 5m")
        }
        return seconds
    }

    /// Prometheus's `query_range` answer: `{"status":"success","data":{"resultType":"matrix","result":[…]}}`.
    private struct QueryRangeAnswer: Encodable {
        struct Data: Encodable {
            let resultType = "matrix"
            let result: [Series]
        }

        struct Series: Encodable {
            let metric: [String: String]
            let values: [Point]
        }

        /// `[unix seconds, "value"]`.
        struct Point: Encodable {
            let time: Date
            let value: Double

            func encode(to encoder: any Encoder) throws {
                var container = encoder.unkeyedContainer()
                try container.encode(time.timeIntervalSince1970)
                try container.encode(Self.text(value))
            }

            /// As Prometheus writes sample values: shortest form, `NaN`, `+Inf`, `-Inf`.
            static func text(_ value: Double) -> String {
                if value.isNaN { return "NaN" }
                if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
                if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
                return "\(value)"
            }
        }

        let status = "success"
        let data: Data

        init(_ result: [Series]) {
            data = Data(result: result)
        }
    }
}
