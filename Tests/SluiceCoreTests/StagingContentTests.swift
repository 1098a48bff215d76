import SluiceCompression
import Testing
@testable import SluiceCore

/// A minimal, valid zip archive holding one stored (uncompressed) file.
private func makeZip(fileName: String, contents: [UInt8]) -> [UInt8] {
    func le16(_ value: Int) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF)] }
    func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(value >> (8 * $0) & 0xFF) } }
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in contents {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    crc ^= 0xFFFF_FFFF
    let name = Array(fileName.utf8)
    let size = le32(UInt32(contents.count))
    let common = le16(20) + le16(0) + le16(0) + le16(0) + le16(0x21) + le32(crc) + size + size + le16(name.count) + le16(0)
    let local = [0x50, 0x4B, 0x03, 0x04] + common + name + contents
    let central = [0x50, 0x4B, 0x01, 0x02] + le16(20) + common + le16(0) + le16(0) + le16(0) + le32(0) + le32(0) + name
    let end = [0x50, 0x4B, 0x05, 0x06] + le16(0) + le16(0) + le16(1) + le16(1)
        + le32(UInt32(central.count)) + le32(UInt32(local.count)) + le16(0)
    return local + central + end
}

@Suite("ContentSniffer")
struct StagingSnifferTests {
    @Test func archivesAndDocuments() throws {
        let zip = makeZip(fileName: "a.csv", contents: Array("a,b\n1,2\n".utf8))
        #expect(zip.count == 30 + 5 + 8 + 46 + 5 + 22)
        #expect(ContentSniffer.kind(of: zip) == .zip)
        let xlsx = makeZip(fileName: "[Content_Types].xml", contents: Array("<?xml version=\"1.0\"?><Types/>".utf8))
        #expect(ContentSniffer.kind(of: xlsx) == .zip)
        #expect(ContentSniffer.kind(of: [0x50, 0x4B, 0x05, 0x06] + [UInt8](repeating: 0, count: 18)) == .zip)
        let gzip = try Gzip.compress(Array("id,name\n1,a\n".utf8))
        #expect(ContentSniffer.kind(of: gzip) == .gzip)
        #expect(ContentSniffer.kind(of: Array("%PDF-1.7\n%\u{E2}\u{E3}".utf8)) == .pdf)
        #expect(ContentSniffer.kind(of: [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0]) == .ole)
    }

    @Test func imagesAndExecutables() {
        #expect(ContentSniffer.kind(of: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D]) == .image)
        #expect(ContentSniffer.kind(of: [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46]) == .image)
        #expect(ContentSniffer.kind(of: Array("GIF89a".utf8) + [1, 0, 1, 0]) == .image)
        #expect(ContentSniffer.kind(of: Array("RIFF".utf8) + [0x24, 0, 0, 0] + Array("WEBPVP8 ".utf8)) == .image)
        #expect(ContentSniffer.kind(of: Array("RIFF".utf8) + [0x24, 0, 0, 0] + Array("WAVEfmt ".utf8)) == .binary)
        #expect(ContentSniffer.kind(of: [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0]) == .executable)
        #expect(ContentSniffer.kind(of: [0x4D, 0x5A, 0x90, 0x00, 0x03, 0x00, 0x00, 0x00]) == .executable)
        #expect(ContentSniffer.kind(of: Array("MZ,code\nA1,x\n".utf8)) == .text)
    }

    @Test func text() {
        #expect(ContentSniffer.kind(of: Array("id,name\n1,Zoë\n".utf8)) == .text)
        #expect(ContentSniffer.kind(of: [0xEF, 0xBB, 0xBF] + Array("id,näme\r\n".utf8)) == .text)
        #expect(ContentSniffer.kind(of: []) == .text)
        // "€" is E2 82 AC: cut after one or two of its bytes, the prefix is still text.
        let euro = Array("price €".utf8)
        #expect(ContentSniffer.kind(of: Array(euro.dropLast(1))) == .text)
        #expect(ContentSniffer.kind(of: Array(euro.dropLast(2))) == .text)
        let emoji = Array("ok 😀".utf8)
        #expect(ContentSniffer.kind(of: Array(emoji.dropLast(1))) == .text)
        // ... but not a broken sequence in the middle, or an invalid byte.
        #expect(ContentSniffer.kind(of: Array(euro.dropLast(1)) + Array("x".utf8)) == .binary)
        #expect(ContentSniffer.kind(of: Array("a,b\n".utf8) + [0xC0, 0xAF]) == .binary)  // overlong "/"
        #expect(ContentSniffer.kind(of: Array("a,b\n".utf8) + [0xED, 0xA0, 0x80]) == .binary)  // surrogate
        #expect(ContentSniffer.kind(of: Array("a,b\n1,".utf8) + [0] + Array("2\n".utf8)) == .binary)
        #expect(ContentSniffer.kind(of: Array("i\0d\0,\0".utf8)) == .binary)  // UTF-16LE
        #expect(ContentSniffer.kind(of: Array("latin1 caf".utf8) + [0xE9, 0x2C]) == .binary)
    }

    @Test func firstSignificantByte() {
        #expect(ContentSniffer.firstSignificantByte([0xEF, 0xBB, 0xBF] + Array(" \r\n\t[1]".utf8)) == UInt8(ascii: "["))
        #expect(ContentSniffer.firstSignificantByte(Array("\n{\"a\":1}".utf8)) == UInt8(ascii: "{"))
        #expect(ContentSniffer.firstSignificantByte(Array(" \n ".utf8)) == nil)
        #expect(ContentSniffer.firstSignificantByte([]) == nil)
    }
}

@Suite("FileNameSanitizer")
struct StagingFileNameTests {
    @Test(arguments: [
        ("../../etc/passwd", "passwd"),
        ("/abs/path.csv", "path.csv"),
        (#"C:\dir\x.csv"#, "x.csv"),
        ("report\u{0}.csv", "report.csv"),
        ("a\u{1}b\u{7F}c\tc\u{85}.csv", "abcc.csv"),
        ("données été.csv", "donn_es__t_.csv"),
        ("日本.csv", "__.csv"),
        ("..", "upload"),
        ("../", "upload"),
        (".hidden.csv", "hidden.csv"),
        ("...x", "x"),
        ("", "upload"),
        ("dir/", "dir"),
        ("My File (1).CSV.GZ", "My_File__1_.CSV.GZ"),
        ("ok-name_1.ndjson", "ok-name_1.ndjson"),
    ])
    func sanitize(original: String, expected: String) {
        #expect(FileNameSanitizer.sanitize(original) == expected)
    }

    @Test func longNamesKeepTheirExtensions() {
        let long = FileNameSanitizer.sanitize(String(repeating: "a", count: 1000) + ".csv.gz")
        #expect(long.utf8.count == 100)
        #expect(long == String(repeating: "a", count: 93) + ".csv.gz")
        let unicode = FileNameSanitizer.sanitize(String(repeating: "é", count: 500) + ".json")
        #expect(unicode == String(repeating: "_", count: 95) + ".json")
        let noExtension = FileNameSanitizer.sanitize(String(repeating: "b", count: 300))
        #expect(noExtension == String(repeating: "b", count: 100))
        let oddExtension = FileNameSanitizer.sanitize(String(repeating: "c", count: 200) + ".averyverylongextension")
        #expect(oddExtension.utf8.count == 100 && oddExtension.hasPrefix("ccc"))
    }

    @Test func sanitizedNamesAreStable() {
        for name in ["../../etc/passwd", "x y.csv", String(repeating: "z", count: 400) + ".csv.gz", "..", "a.b.c"] {
            let once = FileNameSanitizer.sanitize(name)
            #expect(FileNameSanitizer.sanitize(once) == once)
        }
    }

    @Test func fileTypes() {
        #expect(FileNameSanitizer.fileType(of: "x.csv")! == ("csv", false))
        #expect(FileNameSanitizer.fileType(of: "X.CSV.GZ")! == ("csv", true))
        #expect(FileNameSanitizer.fileType(of: "events.ndjson")! == ("ndjson", false))
        #expect(FileNameSanitizer.fileType(of: "events.jsonl.gz")! == ("ndjson", true))
        #expect(FileNameSanitizer.fileType(of: "data.Json")! == ("json", false))
        #expect(FileNameSanitizer.fileType(of: "data.json.gz")! == ("json", true))
        #expect(FileNameSanitizer.fileType(of: "data.xlsx") == nil)
        #expect(FileNameSanitizer.fileType(of: "data.gz") == nil)
        #expect(FileNameSanitizer.fileType(of: "data.csv.zip") == nil)
        #expect(FileNameSanitizer.fileType(of: "data.gz.csv")! == ("csv", false))
        #expect(FileNameSanitizer.fileType(of: "csv") == nil)
        #expect(FileNameSanitizer.fileType(of: ".csv") == nil)
    }
}
