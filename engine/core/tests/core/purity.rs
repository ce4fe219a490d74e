//! The core must stay pure: no async runtime, storage, network or clock crates.

#[test]
fn core_depends_on_no_io_crates() {
    let manifest = include_str!("../../Cargo.toml");
    let deps: Vec<&str> = manifest
        .split("[dependencies]")
        .nth(1)
        .expect("a [dependencies] table")
        .split("\n[")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split(['=', '.']).next())
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let allowed = [
        "chrono",
        "postcard",
        "rust_decimal",
        "serde",
        "sha2",
        "smol_str",
        "thiserror",
    ];
    for d in &deps {
        assert!(allowed.contains(d), "the pure core may not depend on {d}");
    }
    assert!(
        !manifest.contains("\"clock\""),
        "chrono's clock feature reads the time"
    );
    assert!(deps.len() >= 5, "parsed the dependency list: {deps:?}");
}
