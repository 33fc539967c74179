//! Embeds the Python SDK (`sdk/python/src`) in the host, so the binary can put it on a Python
//! plugin's PYTHONPATH wherever it runs, without an install step.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let sdk = manifest_dir.join("../../sdk/python/src");
    println!("cargo:rerun-if-changed={}", sdk.display());
    let mut files = Vec::new();
    collect(&sdk, &sdk, &mut files);
    files.sort();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut table = String::from("pub const FILES: &[(&str, &str)] = &[\n");
    for (relative, absolute) in &files {
        println!("cargo:rerun-if-changed={}", absolute.display());
        let contents = std::fs::read(absolute).expect("read SDK file");
        for byte in relative.as_bytes().iter().chain(&contents) {
            hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
        writeln!(
            table,
            "    ({relative:?}, include_str!({:?})),",
            absolute.display().to_string()
        )
        .expect("write");
    }
    table.push_str("];\n");
    writeln!(table, "pub const HASH: &str = \"{hash:016x}\";").expect("write");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("python_sdk.rs");
    std::fs::write(out, table).expect("write python_sdk.rs");
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "__pycache__" && !name.ends_with(".egg-info") {
                collect(root, &path, out);
            }
        } else if name.ends_with(".py") {
            let relative = path
                .strip_prefix(root)
                .expect("below root")
                .to_string_lossy()
                .replace('\\', "/");
            out.push((relative, path));
        }
    }
}
