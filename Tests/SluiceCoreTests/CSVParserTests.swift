import SluiceCore
import Testing

@Suite struct CSVParserTests {
    /// Parses `text` fed in chunks of `chunk` bytes.
    private func parse(_ text: String, chunk: Int = .max, delimiter: Character = ",") throws -> [CSVParser.Record] {
        var parser = CSVParser(delimiter: delimiter.asciiValue!)
        var records: [CSVParser.Record] = []
        let bytes = Array(text.utf8)
        var index = 0
        while index < bytes.count {
            let end = min(bytes.count, index + chunk)
            parser.feed(bytes[index..<end]) { records.append($0) }
            index = end
        }
        try parser.finish { records.append($0) }
        return records
    }

    private func fields(_ records: [CSVParser.Record]) -> [[String]] { records.map { $0.strings() ?? ["<invalid>"] } }

    @Test(arguments: [1, 2, 3, 7, 1 << 20])
    func quotedFieldsWithDelimitersQuotesAndNewlines(chunk: Int) throws {
        let text = "id,text\r\n1,\"a, b\"\r\n2,\"say \"\"hi\"\"\"\r\n3,\"two\nlines\"\r\n"
        let records = try parse(text, chunk: chunk)
        #expect(fields(records) == [["id", "text"], ["1", "a, b"], ["2", "say \"hi\""], ["3", "two\nlines"]])
        #expect(records.map(\.line) == [1, 2, 3, 4])
    }

    @Test func byteOrderMarkIsSkippedAndLastLineNeedsNoBreak() throws {
        #expect(fields(try parse("\u{FEFF}a,b\n1,2", chunk: 1)) == [["a", "b"], ["1", "2"]])
    }

    @Test func raggedRowsKeepTheirFieldCountsAndBlankLinesAreSkipped() throws {
        #expect(fields(try parse("a,b,c\n1,2\n\n1,2,3,4\n,\n")) == [["a", "b", "c"], ["1", "2"], ["1", "2", "3", "4"], ["", ""]])
    }

    @Test func emptyInputHasNoRecords() throws {
        #expect(try parse("").isEmpty)
        #expect(try parse("\n\n").isEmpty)
    }

    @Test func lineNumbersCountQuotedLineBreaks() throws {
        let records = try parse("h\n\"x\ny\nz\"\nnext\n")
        #expect(records.map(\.line) == [1, 2, 5])
    }

    @Test func invalidUTF8IsReportedPerRecord() throws {
        var parser = CSVParser()
        var records: [CSVParser.Record] = []
        parser.feed([0x61, 0x0A, 0xFF, 0xFE, 0x0A, 0x62, 0x0A]) { records.append($0) }
        try parser.finish { records.append($0) }
        #expect(records.count == 3)
        #expect(records[1].strings() == nil)
        #expect(records[2].strings() == ["b"])
    }

    @Test func unterminatedQuoteFailsAtTheEnd() {
        #expect(throws: CSVParser.UnterminatedQuote.self) { try parse("a,\"open\n") }
    }

    @Test func otherDelimiters() throws {
        #expect(fields(try parse("a;b\n\"x;y\";z\n", delimiter: ";")) == [["a", "b"], ["x;y", "z"]])
    }
}
