//! The fuzz targets (fuzz/src/lib.rs) over every kept input: the seed corpora and the inputs
//! that once crashed a reader (fuzz/regressions/, each a regression test), then a short
//! mutation run of each target seeded from them (bit flips, cuts, splices), so that every test
//! run fuzzes a little even where libFuzzer and the nightly toolchain are not installed.

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod targets;

use rand::{RngExt, SeedableRng, rngs::StdRng};
use std::path::{Path, PathBuf};

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 6] = [
    ("scenario", targets::scenario),
    ("episode", targets::episode),
    ("checkpoint", targets::checkpoint),
    ("coco", targets::coco),
    ("script", targets::script),
    ("labels", targets::labels),
];

/// Mutated inputs run per kept input.
const MUTATIONS: usize = 40;

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files: Vec<PathBuf> = ["corpus", "regressions"]
        .iter()
        .filter_map(|kind| std::fs::read_dir(root.join(kind).join(target)).ok())
        .flat_map(|dir| dir.flatten().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `target` on `data`; a panic fails the test naming what was read.
fn run(name: &str, target: Target, data: &[u8], what: &str) {
    let outcome = std::panic::catch_unwind(|| target(data));
    assert!(outcome.is_ok(), "fuzz target {name} panicked on {what}");
}

fn mutate(rng: &mut StdRng, data: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        match rng.random_range(0..5) {
            0 if !out.is_empty() => {
                let i = rng.random_range(0..out.len());
                out[i] ^= 1 << rng.random_range(0..8);
            }
            1 if !out.is_empty() => {
                let i = rng.random_range(0..out.len());
                out[i] = [0, 0xff, 0x7f, 0x80, b'9', b'-', b'.'][rng.random_range(0..7)];
            }
            2 => out.truncate(rng.random_range(0..=out.len())),
            3 if !out.is_empty() && !other.is_empty() => {
                let (at, from) = (
                    rng.random_range(0..out.len()),
                    rng.random_range(0..other.len()),
                );
                let n = rng.random_range(1..=64).min(other.len() - from);
                out.splice(at..at, other[from..from + n].iter().copied());
            }
            _ if out.len() >= 8 => {
                // A number spelled out in text or a length field in binary, made huge.
                let i = rng.random_range(0..out.len() - 8);
                out[i..i + 8].copy_from_slice(&u64::MAX.to_le_bytes());
            }
            _ => out.push(rng.random()),
        }
    }
    out
}

#[test]
fn every_fuzz_target_survives_its_kept_inputs_and_their_mutations() {
    for (name, target) in TARGETS {
        let files = inputs(name);
        assert!(!files.is_empty(), "fuzz/corpus/{name} holds no seed inputs");
        let data: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
        let mut slowest = (std::time::Duration::ZERO, &files[0]);
        for (file, bytes) in files.iter().zip(&data) {
            let started = std::time::Instant::now();
            run(name, target, bytes, &file.display().to_string());
            slowest = slowest.max((started.elapsed(), file));
        }
        eprintln!(
            "{name}: slowest kept input {:?}: {}",
            slowest.0,
            slowest.1.display()
        );
        let mut rng = StdRng::seed_from_u64(21);
        for (file, bytes) in files.iter().zip(&data) {
            for m in 0..MUTATIONS {
                let other = &data[rng.random_range(0..data.len())];
                let mutated = mutate(&mut rng, bytes, other);
                let what = format!("mutation {m} of {}", file.display());
                run(name, target, &mutated, &what);
            }
        }
    }
}

/// The checkpoint target's seeds: one small model folder of each kind (steering, classifier,
/// segmenter, detector), packed as the target reads them. `STEERLAB_BLESS=1` writes them from
/// the current configs; every run checks that they still load as their kind.
#[test]
fn fuzz_seed_models_load_as_their_kind() {
    use serde_json::json;
    use steerlab::nn::ModelDir;
    use steerlab::nn::models::classify::{Classifier, ClassifierConfig};
    use steerlab::nn::models::detect::{Detector, DetectorConfig};
    use steerlab::nn::models::segment::{Segmenter, SegmenterConfig};
    use steerlab::nn::models::steering::config::InputSpec;

    fn tiny<C: serde::Serialize + serde::de::DeserializeOwned>(config: C) -> C {
        let mut v = serde_json::to_value(config).unwrap();
        v["input"] = json!({"channels": 3, "height": 16, "width": 32});
        v["backbone"]["layers"] = json!([
            {"kind": "conv", "out_channels": 4, "kernel": 3, "stride": 2, "padding": 1},
            {"kind": "conv", "out_channels": 4, "kernel": 3, "stride": 2, "padding": 1}
        ]);
        for (key, value) in [
            ("hidden", json!([8])),
            ("rpn_channels", json!(4)),
            ("head_hidden", json!(8)),
            ("roi_bins", json!(2)),
        ] {
            if v.get(key).is_some() {
                v[key] = value;
            }
        }
        if let Some(head) = v.get_mut("steering") {
            head["hidden"] = json!([8]);
        }
        serde_json::from_value::<C>(v).unwrap()
    }
    fn pack<M: ModelDir>(kind: u8, model: M) -> Vec<u8> {
        let dir = crate::tempdir(&format!("fuzz-seed-{kind}"));
        model.save(&dir).unwrap();
        let mut bytes = vec![kind];
        bytes.extend(std::fs::read(dir.join("config.json")).unwrap());
        bytes.push(0);
        bytes.extend(std::fs::read(dir.join("model.safetensors")).unwrap());
        bytes
    }

    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/checkpoint");
    if std::env::var_os("STEERLAB_BLESS").is_some() {
        let classes: Vec<String> = ["cone", "tree"].map(String::from).to_vec();
        let input = InputSpec {
            channels: 3,
            height: 16,
            width: 32,
        };
        let seeds = [
            (
                "steering",
                pack(
                    0,
                    steerlab::nn::Model::new(tiny(steerlab::nn::ModelConfig::pilotnet()), 0)
                        .unwrap(),
                ),
            ),
            (
                "classifier",
                pack(
                    1,
                    Classifier::new(tiny(ClassifierConfig::lecture(input, classes.clone())), 0)
                        .unwrap(),
                ),
            ),
            (
                "segmenter",
                pack(
                    2,
                    Segmenter::new(tiny(SegmenterConfig::pilotnet(classes.clone())), 0).unwrap(),
                ),
            ),
            (
                "detector",
                pack(
                    3,
                    Detector::new(tiny(DetectorConfig::pilotnet(classes)), 0).unwrap(),
                ),
            ),
        ];
        std::fs::create_dir_all(&folder).unwrap();
        for (name, bytes) in seeds {
            std::fs::write(folder.join(name), bytes).unwrap();
        }
    }
    let mut seeds: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    seeds.sort();
    assert_eq!(seeds.len(), 4, "{seeds:?}");
    for seed in seeds {
        let data = std::fs::read(&seed).unwrap();
        let zero = 1 + data[1..].iter().position(|&b| b == 0).unwrap();
        let dir = crate::tempdir("fuzz-seed-load");
        std::fs::write(dir.join("config.json"), &data[1..zero]).unwrap();
        std::fs::write(dir.join("model.safetensors"), &data[zero + 1..]).unwrap();
        let loaded = match data[0] {
            0 => steerlab::nn::Model::load(&dir).map(drop),
            1 => Classifier::load(&dir).map(drop),
            2 => Segmenter::load(&dir).map(drop),
            _ => Detector::load(&dir).map(drop),
        };
        assert!(loaded.is_ok(), "{}: {loaded:?}", seed.display());
    }
}
