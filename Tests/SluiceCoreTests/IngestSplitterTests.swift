import SluiceCore
import Testing

@Suite struct IngestSplitterTests {
    private func ndjson(_ text: String, chunk: Int) -> [RawRecord] {
        var splitter = NDJSONSplitter()
        var records: [RawRecord] = []
        let bytes = Array(text.utf8)
        for start in stride(from: 0, to: bytes.count, by: chunk) {
            splitter.feed(bytes[start..<min(bytes.count, start + chunk)]) { records.append($0) }
        }
        splitter.finish { records.append($0) }
        return records
    }

    private func array(_ text: String, chunk: Int) throws -> [JSONArraySplitter.Element] {
        var splitter = JSONArraySplitter()
        var elements: [JSONArraySplitter.Element] = []
        let bytes = Array(text.utf8)
        for start in stride(from: 0, to: bytes.count, by: chunk) {
            try splitter.feed(bytes[start..<min(bytes.count, start + chunk)]) { elements.append($0) }
        }
        try splitter.finish()
        return elements
    }

    @Test(arguments: [1, 2, 5, 1 << 20])
    func ndjsonHandlesCRLFBlankLinesAndBOM(chunk: Int) {
        let records = ndjson("\u{FEFF}{\"a\":1}\r\n\r\n  \n{\"b\":\"x\\ny\"}\n{\"c\":3}", chunk: chunk)
        #expect(records.map { String(decoding: $0.bytes, as: UTF8.self) } == ["{\"a\":1}", "{\"b\":\"x\\ny\"}", "{\"c\":3}"])
        #expect(records.map(\.line) == [1, 4, 5])
    }

    @Test func ndjsonKeepsAPartialBOMAndEmptyInputHasNoLines() {
        #expect(ndjson("", chunk: 1).isEmpty)
        #expect(ndjson("\n\r\n", chunk: 1).isEmpty)
        #expect(ndjson("\u{FEFF}", chunk: 1).isEmpty)
        #expect(ndjson("\u{EF}x\n", chunk: 1).map(\.bytes) == [[0xC3, 0xAF, 0x78]])
    }

    @Test(arguments: [1, 3, 1 << 20])
    func arraySplitsNestedElementsAndTrickyStrings(chunk: Int) throws {
        let text = """
            \u{FEFF} [ {"a": {"b": [1, {"c": "]}"}]}, "q": "say \\"hi\\" \\\\"},
            {"s": "}{[,"} ,[1,2], 42, "x]" , true ]\n
            """
        let elements = try array(text, chunk: chunk)
        #expect(elements.map { String(decoding: $0.bytes, as: UTF8.self) } == [
            #"{"a": {"b": [1, {"c": "]}"}]}, "q": "say \"hi\" \\"}"#,
            #"{"s": "}{[,"}"#, "[1,2]", "42", #""x]""#, "true",
        ])
        #expect(elements.map(\.index) == [1, 2, 3, 4, 5, 6])
    }

    @Test func arrayMayBeEmpty() throws {
        #expect(try array(" [ ] ", chunk: 1).isEmpty)
        #expect(try array("[{}]", chunk: 1).map(\.bytes) == [Array("{}".utf8)])
    }

    @Test(arguments: [
        "", "  ", "{\"a\":1}", "x[]", "[{\"a\":1}", "[{\"a\":1}]]", "[{\"a\":1}] x", "[{\"a\":1]}",
        "[1,,2]", "[1,]", "[,1]", "[1 2]", "[{\"a\":\"]\"}", "[{}}]", "[\"unterminated]",
    ])
    func malformedArraysThrow(text: String) {
        #expect(throws: ServiceError.self) { try array(text, chunk: 1) }
        do {
            _ = try array(text, chunk: 1 << 20)
            Issue.record("expected an error for \(text)")
        } catch let error as ServiceError {
            #expect(error.code == "malformed_json")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
