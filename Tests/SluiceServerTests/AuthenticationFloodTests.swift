import Foundation
import SluiceTestSupport
import Testing

/// Wrong keys cannot flood the store: failed authentications are limited per client address, and keys are
/// looked up through a cache that rotation and deletion clear at once.
@Suite struct AuthenticationFloodTests {
    @Test func failedAuthenticationsAreLimitedPerAddressWhileKnownKeysStillPass() async throws {
        // Attempts are earned back far slower than the test runs, so what it sees does not depend on its speed.
        try await InProcessSluice.with(configure: {
            $0.apiKeyCache.timeToLive = .seconds(600)
            $0.authentication.failuresPerSecond = 0.001
        }) { sluice in
            let key = try await sluice.createTenant(tenantYAML("guarded"), contentType: "application/yaml")
            #expect(try await sluice.send("GET", "/api/v1/tenants/guarded/files", token: key).status == 200)

            var statuses: [Int] = []
            for attempt in 0..<30 {
                let response = try await sluice.send("GET", "/api/v1/tenants/guarded/files", token: "sluice_guess\(attempt)")
                statuses.append(response.status)
                if response.status == 429 {
                    #expect(response.errorCode == "too_many_failed_authentications")
                    #expect(Int(response.header("Retry-After") ?? "") ?? 0 >= 1)
                }
            }
            // A burst of 20 (one more while the balance is still above zero): refused as invalid, the rest throttled.
            #expect(statuses.prefix(20).allSatisfy { $0 == 401 } && statuses.suffix(9).allSatisfy { $0 == 429 }, "\(statuses)")
            #expect(try await sluice.send("GET", "/api/v1/tenants/guarded/files", token: key).status == 200,
                    "a key known to be valid passes while its address is throttled")
            #expect(try await sluice.send("GET", "/api/v1/tenants", token: "not-the-admin-token").status == 429)
            #expect(try await sluice.client.get("/api/v1/tenants/guarded/files").status == 401)
            let metrics = try await sluice.client.get("/metrics").text
            #expect(metrics.contains(#"sluice_http_authentication_failures_total{reason="invalid"} 21"#), "\(metrics)")
            #expect(metrics.contains(#"sluice_http_authentication_failures_total{reason="throttled"} 10"#))
            #expect(metrics.contains(#"sluice_http_authentication_failures_total{reason="missing"} 1"#))

            // Rotation clears the cached answer: the old key stops working at once, the new one works.
            let rotated = try await sluice.send("POST", "/api/v1/tenants/guarded/api-keys", token: InProcessSluice.adminToken)
            let newKey = try #require(try rotated.json()["api_key"] as? String, "\(rotated.text)")
            #expect([401, 429].contains(try await sluice.send("GET", "/api/v1/tenants/guarded/files", token: key).status))
            // The new key is unknown to the cache, and its address throttled.
            #expect(try await sluice.send("GET", "/api/v1/tenants/guarded/files", token: newKey).status == 429)
        }
    }

    /// A valid key whose cached answer expired is still let through to the store while its address is
    /// throttled: it was valid a moment ago, so a flood of wrong keys from the same address (a NAT) does
    /// not lock it out.
    @Test func recentlyValidKeysAreLookedUpWhileTheirAddressIsThrottled() async throws {
        try await InProcessSluice.with(configure: {
            $0.apiKeyCache.timeToLive = .zero
            $0.authentication.failuresPerSecond = 0.001
        }) { sluice in
            let key = try await sluice.createTenant(tenantYAML("shared-nat"), contentType: "application/yaml")
            #expect(try await sluice.send("GET", "/api/v1/tenants/shared-nat/files", token: key).status == 200)
            var throttled = false
            for attempt in 0..<200 where !throttled {
                throttled = try await sluice.send("GET", "/api/v1/tenants/shared-nat/files", token: "sluice_guess\(attempt)").status == 429
            }
            #expect(throttled)
            #expect(try await sluice.send("GET", "/api/v1/tenants/shared-nat/files", token: "sluice_never_seen").status == 429)
            #expect(try await sluice.send("GET", "/api/v1/tenants/shared-nat/files", token: key).status == 200)
        }
    }
}
