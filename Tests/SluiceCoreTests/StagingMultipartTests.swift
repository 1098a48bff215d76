import Testing
@testable import SluiceCore

/// A part as reassembled from parser events.
private struct Part: Equatable {
    var headers: MultipartPartHeaders
    var data: [UInt8] = []
}

/// Feeds `body` in chunks of the given sizes (cycled) and reassembles the parts, checking event order.
private func parse(_ body: [UInt8], boundary: String, chunkSizes: [Int]) throws -> (parts: [Part], ended: Bool) {
    var parser = MultipartParser(boundary: boundary)
    var parts: [Part] = []
    var ended = false
    var inPart = false
    var consumed = 0
    var sizeIndex = 0
    func apply(_ events: [MultipartEvent]) {
        for event in events {
            switch event {
            case .partBegin(let headers):
                #expect(!inPart && !ended)
                parts.append(Part(headers: headers))
                inPart = true
            case .partData(let data):
                #expect(inPart && !data.isEmpty)
                parts[parts.count - 1].data += data
            case .partEnd:
                #expect(inPart)
                inPart = false
            case .end:
                #expect(!inPart && !ended)
                ended = true
            }
        }
    }
    while consumed < body.count {
        let size = min(chunkSizes[sizeIndex % chunkSizes.count], body.count - consumed)
        sizeIndex += 1
        apply(try parser.feed(Array(body[consumed..<consumed + size])))
        consumed += size
    }
    apply(try parser.finish())
    return (parts, ended)
}

/// Builds a body the way `curl -F` does.
private func curlBody(boundary: String, parts: [(disposition: String, contentType: String?, data: [UInt8])]) -> [UInt8] {
    var body: [UInt8] = []
    for part in parts {
        body += Array("--\(boundary)\r\nContent-Disposition: \(part.disposition)\r\n".utf8)
        if let contentType = part.contentType { body += Array("Content-Type: \(contentType)\r\n".utf8) }
        body += Array("\r\n".utf8) + part.data + Array("\r\n".utf8)
    }
    return body + Array("--\(boundary)--\r\n".utf8)
}

/// About 1 MB of CSV-like data with CRLFs and bytes that resemble, but are not, delimiters.
private func trickyPayload(boundary: String, size: Int) -> [UInt8] {
    var generator = SplitMix64(seed: 42)
    let decoys = [
        "\r\n--\(boundary.dropLast())", "--\(boundary)", "\r\n-\(boundary)", "\r--\(boundary)\r\n",
        "\n--\(boundary)--", "\r\n--\(boundary)X", "\r\n--\(boundary)0\r\n", "\r\n\r\n", "\r\n--",
    ].map { Array($0.utf8) }
    var payload: [UInt8] = []
    payload.reserveCapacity(size + 100)
    while payload.count < size {
        payload += Array("\(generator.next() % 100000),name \(generator.next() % 999),\"quoted\r\nfield\"\r\n".utf8)
        if generator.next() % 4 == 0 { payload += decoys[Int(generator.next() % UInt64(decoys.count))] + [UInt8(ascii: "|")] }
        if generator.next() % 8 == 0 { payload += (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) } }
    }
    return payload
}

@Suite("MultipartParser")
struct StagingMultipartTests {
    let boundary = "------------------------d74496d66958873e"

    @Test func boundaryFromContentType() {
        #expect(MultipartParser.boundary(fromContentType: "multipart/form-data; boundary=----abc") == "----abc")
        #expect(MultipartParser.boundary(fromContentType: "Multipart/Form-Data;boundary=\"a b;c\"; charset=utf-8") == "a b;c")
        #expect(MultipartParser.boundary(fromContentType: "multipart/form-data; charset=utf-8; BOUNDARY=xyz ") == "xyz")
        #expect(MultipartParser.boundary(fromContentType: "multipart/form-data") == nil)
        #expect(MultipartParser.boundary(fromContentType: "multipart/form-data; boundary=") == nil)
        #expect(MultipartParser.boundary(fromContentType: "multipart/form-data; boundary=\(String(repeating: "x", count: 71))") == nil)
        #expect(MultipartParser.boundary(fromContentType: "text/csv; boundary=abc") == nil)
    }

    @Test func curlStyleFileUpload() throws {
        let csv = Array("id,name\r\n1,alice\r\n2,bob\r\n".utf8)
        let body = curlBody(boundary: boundary, parts: [
            ("form-data; name=\"file\"; filename=\"x.csv\"", "text/csv", csv),
        ])
        let result = try parse(body, boundary: boundary, chunkSizes: [16 * 1024])
        #expect(result.ended)
        #expect(result.parts.count == 1)
        let part = try #require(result.parts.first)
        #expect(part.headers.name == "file")
        #expect(part.headers.filename == "x.csv")
        #expect(part.headers.contentType == "text/csv")
        #expect(part.data == csv)
    }

    @Test func fieldThenFile() throws {
        let body = curlBody(boundary: boundary, parts: [
            ("form-data; name=\"format\"", nil, Array("ndjson".utf8)),
            ("form-data; name=\"file\"; filename=\"data.ndjson\"", "application/octet-stream", Array("{\"a\":1}\n".utf8)),
        ])
        for sizes in [[1], [7, 3, 11], [body.count]] {
            let result = try parse(body, boundary: boundary, chunkSizes: sizes)
            #expect(result.ended)
            #expect(result.parts.map(\.headers.name) == ["format", "file"])
            #expect(result.parts.map(\.headers.filename) == [nil, "data.ndjson"])
            #expect(result.parts.map(\.data) == [Array("ndjson".utf8), Array("{\"a\":1}\n".utf8)])
        }
    }

    @Test func largeBodyWithOneByteChunks() throws {
        let payload = trickyPayload(boundary: boundary, size: 1 << 20)
        let body = Array("preamble to ignore\r\n".utf8) + curlBody(boundary: boundary, parts: [
            ("form-data; name=\"file\"; filename=\"big.csv\"", "text/csv", payload),
        ]) + Array("epilogue".utf8)
        let result = try parse(body, boundary: boundary, chunkSizes: [1])
        #expect(result.ended)
        #expect(result.parts.count == 1)
        #expect(result.parts.first?.data == payload)
    }

    @Test(arguments: [1, 2, 3])
    func largeBodyWithRandomChunks(seed: UInt64) throws {
        let payload = trickyPayload(boundary: boundary, size: 1 << 20)
        let body = curlBody(boundary: boundary, parts: [
            ("form-data; name=\"meta\"", nil, Array("--\(boundary)".utf8)),
            ("form-data; name=\"file\"; filename=\"big.csv\"", "text/csv", payload),
        ])
        var generator = SplitMix64(seed: seed)
        let sizes = (0..<1000).map { _ in Int.random(in: 1...(Int.random(in: 0...1) == 0 ? 64 : 20000), using: &generator) }
        let result = try parse(body, boundary: boundary, chunkSizes: sizes)
        #expect(result.ended)
        #expect(result.parts.map(\.data) == [Array("--\(boundary)".utf8), payload])
    }

    @Test func heldBackBytesAreBoundedByTheDelimiter() throws {
        var parser = MultipartParser(boundary: boundary)
        _ = try parser.feed(Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n".utf8))
        var emitted = 0
        var fed = 0
        for _ in 0..<100 {
            let chunk = Array("abc\r\n--\(boundary.prefix(10))".utf8)
            fed += chunk.count
            for case .partData(let data) in try parser.feed(chunk) { emitted += data.count }
            #expect(fed - emitted <= boundary.utf8.count + 4)
        }
    }

    @Test func emptyPartsAndNoHeaders() throws {
        let body = Array("--\(boundary)\r\n\r\n\r\n--\(boundary)\r\nContent-Disposition: form-data; name=\"e\"\r\n\r\n\r\n--\(boundary)--".utf8)
        let result = try parse(body, boundary: boundary, chunkSizes: [1])
        #expect(result.ended)
        #expect(result.parts == [Part(headers: MultipartPartHeaders(fields: [:])),
                                 Part(headers: MultipartPartHeaders(fields: ["content-disposition": "form-data; name=\"e\""]))])
    }

    @Test func paddingAfterBoundaryAndLowercaseHeaders() throws {
        let body = Array("--\(boundary)  \r\ncontent-disposition: form-data; name=file; filename=a.csv\r\ncontent-type:text/csv\r\n\r\nx\r\n--\(boundary)--\r\n".utf8)
        let result = try parse(body, boundary: boundary, chunkSizes: [3])
        #expect(result.parts.first?.headers.filename == "a.csv")
        #expect(result.parts.first?.headers.contentType == "text/csv")
        #expect(result.parts.first?.data == [UInt8(ascii: "x")])
    }

    @Test func extendedAndWindowsFileNames() throws {
        let headers = MultipartPartHeaders(fields: [
            "content-disposition": "form-data; name=\"file\"; filename=\"rates.csv\"; filename*=UTF-8''%E2%82%AC%20rates.csv",
        ])
        #expect(headers.filename == "€ rates.csv")
        let windows = MultipartPartHeaders(fields: ["content-disposition": #"form-data; name="file"; filename="C:\dir\x \"q\".csv""#])
        #expect(windows.filename == #"C:\dir\x "q".csv"#)
        let latin1 = MultipartPartHeaders(fields: ["content-disposition": "attachment; filename*=iso-8859-1'en'%E9t%E9.csv"])
        #expect(latin1.filename == "été.csv")
        let broken = MultipartPartHeaders(fields: ["content-disposition": "form-data; filename=\"a.csv\"; filename*=UTF-8''%FF%zz"])
        #expect(broken.filename == "a.csv")
    }

    @Test func missingClosingBoundary() throws {
        let body = Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\ndata\r\n".utf8)
        var parser = MultipartParser(boundary: boundary)
        _ = try parser.feed(body)
        #expect(throws: MultipartError(code: MultipartError.Code.missingClosingBoundary,
                                       message: "the multipart body ended without its closing boundary")) {
            _ = try parser.finish()
        }
        var empty = MultipartParser(boundary: boundary)
        #expect { _ = try empty.finish() } throws: { ($0 as? MultipartError)?.code == MultipartError.Code.missingClosingBoundary }
    }

    @Test func oversizedHeaders() throws {
        var parser = MultipartParser(boundary: boundary, maximumHeaderBytes: 1024)
        _ = try parser.feed(Array("--\(boundary)\r\nX-Long: ".utf8))
        let filler = [UInt8](repeating: UInt8(ascii: "a"), count: 100)
        var thrown: MultipartError?
        for _ in 0..<20 {
            do { _ = try parser.feed(filler) } catch { thrown = error; break }
        }
        #expect(thrown?.code == MultipartError.Code.headersTooLarge)
        // Also when the whole block arrives at once.
        var once = MultipartParser(boundary: boundary, maximumHeaderBytes: 64)
        let block = "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(String(repeating: "n", count: 80))\"\r\n\r\nx"
        #expect { _ = try once.feed(Array(block.utf8)) } throws: { ($0 as? MultipartError)?.code == MultipartError.Code.headersTooLarge }
        // Errors are sticky.
        #expect { _ = try once.feed([]) } throws: { ($0 as? MultipartError)?.code == MultipartError.Code.headersTooLarge }
    }

    /// A header block of exactly the limit is accepted however it is split, also when a chunk ends just
    /// before its terminator is complete (found by fuzzing: that refused it as too large, while the same
    /// body in one piece was accepted).
    @Test func aHeaderBlockOfExactlyTheLimitIsAcceptedWhateverTheSplit() throws {
        let header = "Content-Disposition: form-data; name=\"f\"; filename=\"a.csv\"\r\nX-Pad: "
        let block = header + String(repeating: "p", count: 128 - header.utf8.count)
        let body = Array("--\(boundary)\r\n\(block)\r\n\r\ndata\r\n--\(boundary)--\r\n".utf8)
        #expect(block.utf8.count == 128)
        let blockEnd = boundary.utf8.count + 4 + 128
        for cut in [blockEnd + 1, blockEnd + 2, blockEnd + 3, blockEnd + 4] {
            var parser = MultipartParser(boundary: boundary, maximumHeaderBytes: 128)
            var events = try parser.feed(Array(body[..<cut]))
            events += try parser.feed(Array(body[cut...]))
            #expect(events.contains(.partData(Array("data".utf8))), "split at \(cut): \(events)")
        }
    }

    @Test func malformedInput() throws {
        var noColon = MultipartParser(boundary: boundary)
        #expect { _ = try noColon.feed(Array("--\(boundary)\r\nnot a header\r\n\r\n".utf8)) } throws: {
            ($0 as? MultipartError)?.code == MultipartError.Code.malformedHeaders
        }
        var badDelimiter = MultipartParser(boundary: boundary)
        #expect { _ = try badDelimiter.feed(Array("--\(boundary)-x".utf8)) } throws: {
            ($0 as? MultipartError)?.code == MultipartError.Code.malformedDelimiter
        }
    }
}
