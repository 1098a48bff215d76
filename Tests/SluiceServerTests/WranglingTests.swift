import Foundation
import SluiceStore
import SluiceTestSupport
import Testing

/// A declarative ingest app's wrangling steps and quality rules, end to end: upload, ingest, table, rejects.
@Suite struct WranglingTests {
    private let definition = """
        id: shop
        name: Shop orders
        file_types: [csv, ndjson]
        schema:
          type: record
          name: orders
          fields:
            - {name: order_id, type: string}
            - {name: customer, type: string}
            - {name: country, type: string}
            - {name: email, type: ["null", string], default: null}
            - {name: amount, type: double}
            - {name: quantity, type: int}
            - {name: status, type: string}
            - {name: placed_at, type: {type: long, logicalType: timestamp-millis}}
            - {name: channel, type: string}
            - {name: label, type: string}
        primary_key: [order_id]
        ingest_app:
          steps:
            - op: rename
              fields: {ID: order_id, Amount: amount, Qty: quantity, Placed: placed_at}
            - {op: drop, fields: [Internal]}
            - {op: trim, fields: [customer, country, email]}
            - {op: upper, field: country}
            - {op: lower, field: email}
            - {op: cast, field: quantity, to: int}
            - {op: default_if_empty, field: channel, value: web}
            - {op: parse_timestamp, field: placed_at, format: "%d/%m/%Y %H:%M", utc_offset: "+07:00"}
            - {op: concat, fields: [customer, country], into: label, separator: "-"}
            - {op: filter, field: amount, gte: 0}
            - {op: dedupe, keep: last}
          quality:
            - {rule: required, fields: [email]}
            - {rule: range, field: amount, max: 10000}
            - {rule: regex, field: email, pattern: "^[^@ ]+@[^@ ]+$"}
            - {rule: enum, field: status, values: [new, paid, shipped]}
            - {rule: timeliness, field: placed_at, max_age_days: 36500}
        """

    @Test func everyStepAndRuleShapesTheRowsAndAccountsForEveryRecord() async throws {
        try await InProcessSluice.with(ingestWorkers: 1) { sluice in
            let key = try await sluice.createTenant(definition, contentType: "application/yaml")
            let csv = """
                ID,Customer,Country,Email,Amount,Qty,Status,Placed,Channel,Internal
                A1, Alice ,nl, Alice@Example.COM ,10.5,3.0,new,05/01/2026 09:30,,secret
                A2,Bob,de,bob@example.com,-5,1,paid,05/01/2026 10:00,shop,x
                A3,Carol,fr,not-an-email,20,1,paid,05/01/2026 10:00,shop,x
                A4,Dan,es,dan@example.com,20,1,lost,05/01/2026 10:00,shop,x
                A5,Eve,it,eve@example.com,20000,1,new,05/01/2026 10:00,shop,x
                A6,Fay,pt,,20,1,new,05/01/2026 10:00,shop,x
                A7,Gus,be,gus@example.com,20,2.5,new,05/01/2026 10:00,shop,x
                A8,Hal,at,hal@example.com,20,1,new,31/02/2026 10:00,shop,x
                A9,Ivy,ch,ivy@example.com,20,1,new,05/01/1900 10:00,shop,x
                A1,Alice,nl,alice@example.com,11.5,4,paid,06/01/2026 09:30,app,secret
                A10,Jo,us,jo@example.com,30,5,shipped,07/01/2026 23:59,,x

                """
            let id = try await sluice.uploadAndWait("shop", key: key, name: "orders.csv", csv)
            #expect(id.file["state"] as? String == "partial", "\(id.file)")
            #expect(id.file["rows_total"] as? Int == 11)
            #expect(id.file["rows_ingested"] as? Int == 2)
            #expect(id.file["rows_rejected"] as? Int == 9)

            let rejects = try await sluice.send("GET", "/api/v1/tenants/shop/files/\(id.id)/rejects", token: key).json()
            let reasons = try #require(rejects["rejects"] as? [[String: Any]]).map { "\($0["record_number"] ?? "")=\($0["reason"] ?? "")" }
            #expect(reasons == ["1=duplicate_key", "2=filtered", "3=quality_regex", "4=quality_enum", "5=quality_range",
                                "6=quality_required", "7=cast_failed", "8=invalid_timestamp", "9=quality_timeliness"])

            let rows = try sluice.query("""
                SELECT order_id, customer, country, email, amount, quantity, status, channel, label,
                       to_char(placed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS placed
                FROM shop.orders ORDER BY order_id
                """)
            #expect(rows.count == 2)
            let first = try #require(rows.first)
            #expect(try first.decode(String.self, "order_id") == "A1")
            #expect(try first.decode(Double.self, "amount") == 11.5)
            #expect(try first.decode(Int.self, "quantity") == 4)
            #expect(try first.decode(String.self, "status") == "paid")
            #expect(try first.decode(String.self, "channel") == "app")
            #expect(try first.decode(String.self, "placed") == "2026-01-06 02:30")
            let last = rows[1]
            #expect(try last.decode(String.self, "order_id") == "A10")
            #expect(try last.decode(String.self, "country") == "US")
            #expect(try last.decode(String.self, "channel") == "web")
            #expect(try last.decode(String.self, "label") == "Jo-US")
            #expect(try last.decode(String.self, "placed") == "2026-01-07 16:59")
        }
    }

    @Test func stepsApplyToJSONRecordsToo() async throws {
        try await InProcessSluice.with(ingestWorkers: 1) { sluice in
            let key = try await sluice.createTenant(definition, contentType: "application/yaml")
            let ndjson = """
                {"ID": "B1", "customer": " Zed ", "country": "se", "email": " ZED@Example.io", "Amount": 1, "Qty": "2", "status": "new", "Placed": "01/02/2026 07:00"}
                {"ID": "B2", "customer": "Ann", "country": "no", "email": "ann@example.io", "Amount": 3, "Qty": 1, "status": "new", "Placed": "01/02/2026", "channel": "fax"}

                """
            let id = try await sluice.uploadAndWait("shop", key: key, name: "orders.ndjson", ndjson)
            #expect(id.file["state"] as? String == "partial", "\(id.file)")
            #expect(id.file["rows_ingested"] as? Int == 1)
            let row = try #require(try sluice.query("""
                SELECT customer, email, quantity, channel, label, to_char(placed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS placed
                FROM shop.orders
                """).first)
            #expect(try row.decode(String.self, "customer") == "Zed")
            #expect(try row.decode(String.self, "email") == "zed@example.io")
            #expect(try row.decode(Int.self, "quantity") == 2)
            #expect(try row.decode(String.self, "channel") == "web")
            #expect(try row.decode(String.self, "label") == "Zed-SE")
            #expect(try row.decode(String.self, "placed") == "2026-02-01 00:00")
        }
    }

    /// Only trim and case steps: CSV cells and JSON members take the byte path, which must store what
    /// the steps would, in order; two case changes of one field go through the record path.
    @Test func trimAndCaseStepsGiveTheSameRowsFromCSVAndNDJSON() async throws {
        let definition = """
            id: cases
            file_types: [csv, ndjson]
            schema:
              type: record
              name: people
              fields:
                - {name: id, type: string}
                - {name: name, type: string}
                - {name: code, type: string}
                - {name: tag, type: ["null", string], default: null}
            primary_key: [id]
            ingest_app:
              steps:
                - {op: trim, fields: [name, tag]}
                - {op: upper, field: name}
                - {op: lower, field: code}
                - {op: upper, field: code}
            """
        try await InProcessSluice.with(ingestWorkers: 1) { sluice in
            let key = try await sluice.createTenant(definition, contentType: "application/yaml")
            let csv = "id,name,code,tag\nc1,\"  zoë\tq \",İx,\" \"\n"
            let ndjson = #"{"id": "j1", "name": "  zoë\tq ", "code": "İx", "tag": " "}"# + "\n"
            for (name, body) in [("people.csv", csv), ("people.ndjson", ndjson)] {
                let file = try await sluice.uploadAndWait("cases", key: key, name: name, body)
                #expect(file.file["state"] as? String == "succeeded", "\(name): \(file.file)")
            }
            // Bytes, not Strings: Swift compares strings up to canonical equivalence, and "İ" lowered then
            // uppercased is canonically equivalent to, but not the same bytes as, "İ" uppercased.
            let rows = try sluice.query("SELECT id, name, code, tag FROM cases.people ORDER BY id").map { row in
                try ["id", "name", "code", "tag"].map { Array((try row.decode(String.self, $0) ?? "<null>").utf8) }
            }
            let expected = ["ZOË\tQ", "İx".lowercased().uppercased(), ""].map { Array($0.utf8) }
            #expect(rows == [[Array("c1".utf8)] + expected, [Array("j1".utf8)] + expected])
            #expect(Array("İx".lowercased().uppercased().utf8) != Array("İx".uppercased().utf8))
        }
    }
}
