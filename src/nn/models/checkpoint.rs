//! Models on disk: a directory holding `config.json` and `model.safetensors`, each written to a
//! temporary name and renamed. Loading checks the weights against the config tensor by tensor,
//! so a mismatch names the tensor and both shapes instead of failing deep inside a forward pass.

use crate::error::{Error, Result};
use crate::files::{replace_with, write_atomic};
use crate::nn::device;
use candle_core::Tensor;
use candle_nn::VarMap;
use rand::{RngExt, SeedableRng, rngs::StdRng};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub const CONFIG_FILE: &str = "config.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";

pub(crate) fn model_err(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::Model {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Sets every variable from a seeded RNG, in name order: weights and biases uniform in
/// ±1/√fan_in (PyTorch's default for convolutions and dense layers), fan_in taken from the
/// weight a bias belongs to. The same seed gives the same model on any machine.
pub fn initialise(varmap: &VarMap, seed: u64) -> Result<()> {
    let vars = varmap
        .data()
        .lock()
        .map_err(|_| Error::Tensor("variable map poisoned".into()))?;
    let sorted: BTreeMap<&String, _> = vars.iter().collect();
    let fan_in = |name: &str| -> Option<usize> {
        let weight = name.strip_suffix("bias").map(|p| format!("{p}weight"))?;
        let dims = vars.get(&weight)?.dims().to_vec();
        Some(dims[1..].iter().product())
    };
    let mut rng = StdRng::seed_from_u64(seed);
    for (name, var) in sorted {
        let dims = var.dims();
        let fan = if dims.len() >= 2 {
            dims[1..].iter().product()
        } else {
            fan_in(name).unwrap_or(dims[0])
        };
        let bound = 1.0 / (fan.max(1) as f32).sqrt();
        let values: Vec<f32> = (0..var.elem_count())
            .map(|_| rng.random_range(-bound..=bound))
            .collect();
        var.set(&Tensor::from_vec(values, dims, &device())?)?;
    }
    Ok(())
}

/// A model kept as a model directory (`config.json` + `model.safetensors`): every kind of model
/// (steering, classifier, segmenter, detector) says what its config and variables are and how
/// to build it with zeroed variables; creating, saving, loading and taking a backbone work the
/// same for all.
pub trait ModelDir: Sized {
    type Config: serde::Serialize + serde::de::DeserializeOwned;

    fn config(&self) -> &Self::Config;
    fn varmap(&self) -> &VarMap;
    /// The model of `config` with every variable zero; errors name `path` (the config file).
    fn zeroed(config: Self::Config, path: &Path) -> Result<Self>;

    /// A fresh model with seeded weights.
    fn new(config: Self::Config, seed: u64) -> Result<Self> {
        let model = Self::zeroed(config, Path::new("<config>"))?;
        initialise(model.varmap(), seed)?;
        Ok(model)
    }

    /// Number of trainable values.
    fn parameter_count(&self) -> usize {
        self.varmap()
            .all_vars()
            .iter()
            .map(|v| v.elem_count())
            .sum()
    }

    /// Writes `config.json` and `model.safetensors` into `dir` (created if missing).
    fn save(&self, dir: &Path) -> Result<()> {
        save_model(dir, self.config(), self.varmap())
    }

    /// Reads a model directory written by `save`; weights that do not match the config are
    /// refused tensor by tensor.
    fn load(dir: &Path) -> Result<Self> {
        let (config, path) = read_config(dir)?;
        let model = Self::zeroed(config, &path)?;
        load_varmap(model.varmap(), &dir.join(WEIGHTS_FILE), None)?;
        Ok(model)
    }

    /// Takes the backbone weights of another model directory (a steering model, say): every
    /// `backbone.*` tensor must be there with the same shape.
    fn load_backbone(&self, dir: &Path) -> Result<()> {
        load_varmap(self.varmap(), &dir.join(WEIGHTS_FILE), Some("backbone."))
    }
}

/// Writes a model directory of any kind: `config.json` (the config as JSON) and
/// `model.safetensors` (the variables of `varmap`), each through a temporary file.
pub fn save_model<C: serde::Serialize>(dir: &Path, config: &C, varmap: &VarMap) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| model_err(dir, e))?;
    write_config(dir, config)?;
    save_tensors(&varmap_tensors(varmap)?, &dir.join(WEIGHTS_FILE))
}

/// Replaces the `config.json` of a model directory (its weights stay).
pub fn write_config<C: serde::Serialize>(dir: &Path, config: &C) -> Result<()> {
    let json = serde_json::to_vec_pretty(config).map_err(|e| model_err(dir, e))?;
    write_atomic(&dir.join(CONFIG_FILE), &json)
}

/// Reads the `config.json` of a model directory; errors name the file and the field path.
pub fn read_config<C: serde::de::DeserializeOwned>(dir: &Path) -> Result<(C, PathBuf)> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        model_err(
            &path,
            format!("{e} (is {} a model directory?)", dir.display()),
        )
    })?;
    let de = &mut serde_json::Deserializer::from_str(&text);
    let config = serde_path_to_error::deserialize(de)
        .map_err(|e| model_err(&path, format!("{}: {}", e.path(), e.inner())))?;
    Ok((config, path))
}

/// The variables of `varmap` by name.
pub fn varmap_tensors(varmap: &VarMap) -> Result<HashMap<String, Tensor>> {
    let vars = varmap
        .data()
        .lock()
        .map_err(|_| Error::Tensor("variable map poisoned".into()))?;
    Ok(vars
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect())
}

/// Sets the variables of `varmap` (those whose names start with `only`, when given) from the
/// tensors of the same names in a safetensors file, after checking that every name, shape and
/// type matches; a mismatch lists every problem. With `only`, other tensors in the file are
/// ignored (a backbone taken from a model with another head).
pub fn load_varmap(varmap: &VarMap, path: &Path, only: Option<&str>) -> Result<()> {
    // The header alone is checked first: a file whose tensors do not match is refused before
    // any of its data is read, so its size cannot decide what is allocated.
    let header = read_header(path)?;
    let vars = varmap
        .data()
        .lock()
        .map_err(|_| Error::Tensor("variable map poisoned".into()))?;
    let wanted = |name: &str| only.is_none_or(|p| name.starts_with(p));
    let mut problems = Vec::new();
    for (name, var) in vars.iter().filter(|(n, _)| wanted(n)) {
        match header.get(name) {
            None => problems.push(format!("tensor `{name}` {:?} is missing", var.dims())),
            Some(t) if t.shape != var.dims() => problems.push(format!(
                "tensor `{name}` has shape {:?}, the config needs {:?}",
                t.shape,
                var.dims()
            )),
            Some(t) if t.dtype != "F32" => {
                problems.push(format!("tensor `{name}` is {}, expected f32", t.dtype))
            }
            Some(_) => {}
        }
    }
    if only.is_none() {
        for name in header.keys().filter(|n| !vars.contains_key(*n)) {
            problems.push(format!("tensor `{name}` is not part of the config"));
        }
    }
    if !problems.is_empty() {
        problems.sort();
        return Err(model_err(
            path,
            format!(
                "weights do not match config.json:\n{}",
                crate::error::problem_list(&problems)
            ),
        ));
    }
    let loaded = load_tensors(path)?;
    for (name, var) in vars.iter().filter(|(n, _)| wanted(n)) {
        let tensor = loaded
            .get(name)
            .ok_or_else(|| model_err(path, format!("tensor `{name}` is missing")))?;
        var.set(tensor)
            .map_err(|e| model_err(path, format!("{name}: {e}")))?;
    }
    Ok(())
}

/// Writes named tensors as safetensors through a temporary file and a rename.
pub fn save_tensors(tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
    replace_with(path, |tmp| {
        candle_core::safetensors::save(tensors, tmp).map_err(|e| e.to_string())
    })
}

/// Largest safetensors header read, bytes (the safetensors format's own limit).
const MAX_HEADER_BYTES: u64 = 100 << 20;

/// A tensor as a safetensors header describes it.
#[derive(Debug, serde::Deserialize)]
struct HeaderEntry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [u64; 2],
}

/// The tensors of a safetensors file by name, from its header alone: the header's length
/// checked against the file's before it is read, and every tensor's byte range against its
/// type and shape and the file's size.
fn read_header(path: &Path) -> Result<HashMap<String, HeaderEntry>> {
    use std::io::Read;
    let bad =
        |message: String| model_err(path, format!("not a readable safetensors file: {message}"));
    if !path.is_file() {
        return Err(model_err(path, "file not found"));
    }
    let mut file = std::fs::File::open(path).map_err(|e| model_err(path, e))?;
    let len = file.metadata().map_err(|e| model_err(path, e))?.len();
    let mut prefix = [0u8; 8];
    file.read_exact(&mut prefix)
        .map_err(|_| bad(format!("{len} bytes is too short for a header")))?;
    let n = u64::from_le_bytes(prefix);
    if n > MAX_HEADER_BYTES.min(len - 8) {
        return Err(bad(format!(
            "the header claims {n} bytes; the file holds {} after the length (and at most \
             {MAX_HEADER_BYTES} are read)",
            len - 8
        )));
    }
    let mut text = vec![0u8; n as usize];
    file.read_exact(&mut text).map_err(|e| bad(e.to_string()))?;
    let mut entries: HashMap<String, serde_json::Value> =
        serde_json::from_slice(&text).map_err(|e| bad(format!("header: {e}")))?;
    entries.remove("__metadata__");
    let data_len = len - 8 - n;
    let mut header = HashMap::new();
    for (name, value) in entries {
        let entry: HeaderEntry =
            serde_json::from_value(value).map_err(|e| bad(format!("tensor `{name}`: {e}")))?;
        let size = match entry.dtype.as_str() {
            "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" => Some(1u64),
            "I16" | "U16" | "F16" | "BF16" => Some(2),
            "I32" | "U32" | "F32" => Some(4),
            "I64" | "U64" | "F64" => Some(8),
            _ => None,
        };
        let bytes = entry
            .shape
            .iter()
            .try_fold(size.unwrap_or(1), |acc, &d| acc.checked_mul(d as u64));
        let [start, end] = entry.data_offsets;
        if size.is_none() || bytes != end.checked_sub(start) || end > data_len {
            return Err(bad(format!(
                "tensor `{name}`: {} {:?} does not fit bytes {start}..{end} of {data_len}",
                entry.dtype, entry.shape
            )));
        }
        header.insert(name, entry);
    }
    Ok(header)
}

/// Reads named tensors from a safetensors file.
pub fn load_tensors(path: &Path) -> Result<HashMap<String, Tensor>> {
    if !path.is_file() {
        return Err(model_err(path, "file not found"));
    }
    candle_core::safetensors::load(path, &device())
        .map_err(|e| model_err(path, format!("not a readable safetensors file: {e}")))
}
