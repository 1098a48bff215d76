import SluiceMetrics
import Testing

@Suite struct NegotiationTests {
    static let cases: [(String?, ExpositionFormat)] = [
        (nil, .prometheusText),
        ("", .prometheusText),
        ("*/*", .prometheusText),
        ("text/plain", .prometheusText),
        ("text/plain;version=0.0.4;q=1,*/*;q=0.1", .prometheusText),
        ("application/openmetrics-text", .openMetrics),
        ("Application/OpenMetrics-Text; Version=1.0.0", .openMetrics),
        // Prometheus 2.x scrape header.
        ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
            + "text/plain;version=0.0.4;q=0.5,*/*;q=0.1", .openMetrics),
        // Prometheus 3.x scrape header.
        ("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
            + "text/plain;version=0.0.4;q=0.3,*/*;q=0.2", .openMetrics),
        ("text/plain, application/openmetrics-text; q=0.2", .openMetrics),
        ("application/openmetrics-text;q=0", .prometheusText),
        ("application/openmetrics-text;q=0.0, text/plain", .prometheusText),
        ("application/openmetrics-text;version=2.0.0", .prometheusText),
        ("application/openmetrics-text;q=bogus", .prometheusText),
    ]

    @Test(arguments: cases)
    func negotiates(accept: String?, expected: ExpositionFormat) {
        #expect(ExpositionFormat.negotiate(acceptHeader: accept) == expected)
    }

    @Test func contentTypes() {
        #expect(ExpositionFormat.prometheusText.contentType == "text/plain; version=0.0.4; charset=utf-8")
        #expect(ExpositionFormat.openMetrics.contentType
            == "application/openmetrics-text; version=1.0.0; charset=utf-8")
    }
}
