//! The saved position of a run: weights, optimiser moments and where in the data it was,
//! written after every epoch and on interruption, and read back by a resumed run.

use crate::error::{Error, Result};
use crate::files::write_atomic;
use crate::nn::models::checkpoint::{load_tensors, load_varmap, save_tensors, varmap_tensors};
use crate::nn::train::optim::AdamW;
use crate::nn::train::task::Epoch;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const STATE_DIR: &str = "train_state";
const STATE_FILE: &str = "state.json";
const WEIGHTS: &str = "weights.safetensors";
const MOMENTS: &str = "optimizer.safetensors";

/// What decides the rounding of a training step besides the run's own settings: the rayon
/// threads (the convolutions sum gradients per chunk of samples, and the chunks follow the
/// thread count) and the BLAS kernels. A resume on another machine continues the run, but
/// not bit for bit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub threads: usize,
    pub blas_kernels: String,
}

impl Machine {
    pub fn current() -> Self {
        Self {
            threads: rayon::current_num_threads(),
            blas_kernels: crate::nn::ops::blas_kernels().name.clone(),
        }
    }
}

/// The position of a run, saved with its weights and optimiser moments.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct State {
    pub fingerprint: Vec<(String, serde_json::Value)>,
    pub(super) machine: Machine,
    /// The epoch in progress (from 1) and batches of it already done.
    pub(super) epoch: usize,
    pub(super) batch_in_epoch: usize,
    pub(super) step: u64,
    pub(super) loss_sum: f64,
    pub(super) part_sums: Vec<f64>,
    pub(super) samples: usize,
    pub(super) batches: usize,
    pub(super) epoch_seconds: f64,
    pub(super) epoch_wait_s: f64,
    pub(super) best: Option<f64>,
    pub(super) best_epoch: usize,
    pub(super) epochs_without_improvement: usize,
    pub(super) history: Vec<Epoch>,
}

pub(super) fn state_err(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::Model {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

pub(super) fn save_state(
    dir: &Path,
    state: &State,
    varmap: &candle_nn::VarMap,
    optimiser: &AdamW,
) -> Result<()> {
    // A complete new directory replaces the old one; `state.json` is written last, so a
    // directory holding it is complete.
    let tmp = dir.with_file_name(format!("{STATE_DIR}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    let written = (|| {
        std::fs::create_dir_all(&tmp).map_err(|e| state_err(&tmp, e))?;
        save_tensors(&varmap_tensors(varmap)?, &tmp.join(WEIGHTS))?;
        save_tensors(&optimiser.state(), &tmp.join(MOMENTS))?;
        let json = serde_json::to_vec_pretty(state).map_err(|e| state_err(&tmp, e))?;
        write_atomic(&tmp.join(STATE_FILE), &json)
    })();
    if let Err(e) = written {
        // A state that could not be written whole (a full disk) leaves nothing behind.
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&tmp, dir).map_err(|e| state_err(dir, e))
}

pub(super) fn resume(
    dir: &Path,
    fingerprint: &[(String, serde_json::Value)],
    varmap: &candle_nn::VarMap,
    optimiser: &mut AdamW,
) -> Result<State> {
    // A run killed between removing the old state and renaming the new one into its place
    // left the new one complete under the temporary name: finish the rename, so that the next
    // save (which starts by clearing the temporary name) cannot lose the only copy.
    let tmp = dir.with_file_name(format!("{STATE_DIR}.tmp"));
    if !dir.join(STATE_FILE).exists() && tmp.join(STATE_FILE).exists() {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::rename(&tmp, dir).map_err(|e| state_err(dir, e))?;
    }
    let path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        state_err(
            &path,
            format!("{e}: nothing to resume (train without --resume first)"),
        )
    })?;
    let state: State = serde_json::from_str(&text).map_err(|e| state_err(&path, e))?;
    let differs: Vec<&str> = fingerprint
        .iter()
        .filter(|(name, value)| {
            state
                .fingerprint
                .iter()
                .find(|(n, _)| n == name)
                .is_none_or(|(_, v)| v != value)
        })
        .map(|(name, _)| name.as_str())
        .collect();
    if !differs.is_empty() {
        return Err(state_err(
            &path,
            format!(
                "cannot resume: these differ from the interrupted run: {}",
                differs.join(", ")
            ),
        ));
    }
    load_varmap(varmap, &dir.join(WEIGHTS), None)?;
    let moments = load_tensors(&dir.join(MOMENTS))?;
    optimiser
        .restore(&moments, state.step)
        .map_err(|e| state_err(&dir.join(MOMENTS), e))?;
    Ok(state)
}
