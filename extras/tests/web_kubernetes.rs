//! Issue 15: the Kubernetes manifest of `examples/kubernetes/` matches the
//! example it runs: its probes point at the endpoints the `web` module
//! serves, and its termination grace covers the `preStop` delay plus the
//! tree's grace, so SIGKILL never cuts a drain short.

#[allow(dead_code)]
#[path = "../../examples/web/06_actix_web.rs"]
mod app;

const MANIFEST: &str = include_str!("../../examples/kubernetes/deployment.yaml");

/// The number after `key:` on the first line (comments aside) that has
/// it, below the line containing `after`.
fn number_after(after: &str, key: &str) -> u64 {
    let start = MANIFEST
        .find(after)
        .unwrap_or_else(|| panic!("{after} in the manifest"));
    MANIFEST[start..]
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .find_map(|line| line.trim().strip_prefix(key)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{key} after {after}"))
}

#[test]
fn the_termination_grace_covers_the_pre_stop_delay_and_the_trees_grace() {
    let termination = number_after(
        "spec:\n      terminationGracePeriodSeconds",
        "terminationGracePeriodSeconds:",
    );
    let pre_stop = number_after("preStop:", "seconds:");
    assert!(
        termination >= pre_stop + app::TREE_GRACE_SECS,
        "terminationGracePeriodSeconds {termination} < preStop {pre_stop} + tree grace {}",
        app::TREE_GRACE_SECS
    );
}

#[test]
fn the_probes_use_the_web_modules_endpoints() {
    let path_after = |probe: &str| {
        let start = MANIFEST.find(probe).unwrap();
        MANIFEST[start..]
            .lines()
            .find_map(|line| line.trim().strip_prefix("path:").map(str::trim))
            .unwrap()
    };
    assert_eq!(path_after("readinessProbe:"), "/readyz");
    assert_eq!(path_after("livenessProbe:"), "/healthz");
    assert!(MANIFEST.contains("args: [\"--serve\"]"));
    for var in ["APP_BIND", "APP_ENABLE_CONTROL", "APP_CONTROL_TOKEN"] {
        assert!(MANIFEST.contains(&format!("name: {var}")), "{var}");
    }
}
