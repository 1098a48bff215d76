/// The `sluice_build_info` gauge.
public enum BuildInfo {
    /// Registers `sluice_build_info{version,revision} 1`.
    public static func register(in registry: MetricsRegistry, version: String, revision: String) {
        registry.gauge(name: "sluice_build_info",
                       help: "Build information about the running Sluice binary; the value is always 1.",
                       labelNames: ["version", "revision"])
            .labels(version, revision)
            .set(1)
    }
}
