import SluiceStore
import Testing

@Suite struct ConnectionStringTests {
    @Test(arguments: [
        ("postgresql://app:s3cr%40t@db.example:5432/sluice?sslmode=verify-full",
         "postgresql://app:***@db.example:5432/sluice?sslmode=verify-full", ["s3cr%40t"]),
        ("postgres://app:pw@/sluice?host=/run/pg", "postgres://app:***@/sluice?host=/run/pg", ["pw"]),
        ("postgresql://app@db/sluice?password=pw2&sslmode=require", "postgresql://app@db/sluice?password=***&sslmode=require", ["pw2"]),
        (#"host=db user=app password='it\'s a secret' dbname=x"#, "host=db user=app password=*** dbname=x", [#"'it\'s a secret'"#]),
        ("host=db PASSWORD = plain dbname=x", "host=db PASSWORD = *** dbname=x", ["plain"]),
        ("host=/run/pg dbname=sluice user=app passfile='/x/postgres.pgpass'", "host=/run/pg dbname=sluice user=app passfile='/x/postgres.pgpass'", []),
        ("postgresql://app@db/sluice", "postgresql://app@db/sluice", []),
        ("--database-url=postgresql://app:pw3@db/x", "--database-url=postgresql://app:***@db/x", ["pw3"]),
    ])
    func passwordsAreRedacted(url: String, redacted: String, passwords: [String]) {
        #expect(PostgresConnectionString.redacted(url) == redacted)
        #expect(PostgresConnectionString.passwords(in: url) == passwords)
    }
}
