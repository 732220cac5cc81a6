//! Link settings for the shipped binary.
//!
//! The binary is a position-independent executable with ~30,000 relative relocations
//! (vtables, and every static table of `&str`, the IAM action table among them). As RELA
//! entries they take 690 KiB of the file, and the loader reads every one at start, so all
//! of it stays resident: about 0.5 MiB of the sidecar's idle RSS. Packed relative
//! relocations (DT_RELR: a bitmap instead of 24 bytes each) take 8 KiB. GNU ld ≥ 2.38 and
//! lld ≥ 15 pack them; glibc ≥ 2.36 loads them (the binary then requires
//! `GLIBC_ABI_DT_RELR`, which an older glibc refuses at start with a clear error rather
//! than misbehaving). An older GNU ld ignores the option with a warning. The container
//! image carries its builder's glibc.

fn main() {
    // Cargo hands a build script the target's facts in its environment; this is the
    // build's environment, not a pod's, so the sidecar's `host::var` rule does not apply.
    #[allow(clippy::disallowed_methods)]
    let target = |key: &str| std::env::var(key).unwrap_or_default();
    if target("CARGO_CFG_TARGET_OS") == "linux" && target("CARGO_CFG_TARGET_ENV") == "gnu" {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
