//! Replays every committed fuzz input (`fuzz/corpus/<target>/*`) through the same checks the fuzz
//! targets run (`fuzz/src/lib.rs`, compiled here as a module), so stable CI exercises the corpus
//! and every crash once fixed stays fixed. Fuzzing itself needs nightly: `scripts/fuzz.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../fuzz/src/lib.rs"]
mod targets;

use std::path::PathBuf;

#[test]
fn every_corpus_input_passes_its_target() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut dirs: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let mut names: Vec<String> = targets::TARGETS
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    names.sort();
    assert_eq!(
        dirs, names,
        "each fuzz target has a corpus directory and vice versa"
    );

    for (name, check) in targets::TARGETS {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(name))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(files.len() >= 3, "{name}: too few seeds");
        for f in files {
            let data = std::fs::read(&f).unwrap();
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{name}: {} fails", f.display());
        }
    }
}
