//! What a model brings to training ([`Task`]), what one batch and one epoch produce, and the
//! batches of in-memory examples.

use crate::error::Result;
use crate::nn::models::checkpoint::ModelDir;
use candle_core::Tensor;
use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

/// One batch's loss as a [`Task`] computes it.
pub struct Loss {
    /// The scalar the optimiser minimises.
    pub total: Tensor,
    /// Samples in the batch (the epoch's mean loss weighs batches by it).
    pub samples: usize,
    /// The parts named by [`Task::part_names`], in that order.
    pub parts: Vec<f64>,
}

/// Which validation figure decides the best epoch, and which way is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Objective {
    Lowest(usize),
    Highest(usize),
}

/// The batches of one epoch, each or an error.
pub type Batches<'a, B> = Box<dyn Iterator<Item = Result<B>> + 'a>;

/// What a model brings to training: its data, its loss and its validation figures.
pub trait Task {
    type Model: ModelDir;
    type Batch;

    fn model(&self) -> &Self::Model;
    /// Training samples per epoch.
    fn train_len(&self) -> usize;
    /// Validation samples (reported only).
    fn validation_len(&self) -> usize {
        0
    }
    /// Things the user should know about the data (reported when training starts).
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
    /// The batches of `epoch` (from 1) after the first `skip`: the same for the same epoch and
    /// seed, so that a resumed run sees what an uninterrupted one would.
    fn batches(&self, epoch: usize, skip: usize) -> Result<Batches<'_, Self::Batch>>;
    /// The loss of one batch (the forward pass with gradients).
    fn loss(&self, batch: &Self::Batch) -> Result<Loss>;
    /// The validation figures named by [`Task::validation_names`], in that order.
    fn validate(&self) -> Result<Vec<f64>>;

    /// The loss's column name after `train_` (`nll`, `loss`).
    fn loss_name(&self) -> &'static str {
        "loss"
    }
    /// Names of the loss's parts, reported as `train_<name>` means.
    fn part_names(&self) -> Vec<String> {
        Vec::new()
    }
    fn validation_names(&self) -> Vec<String>;
    fn objective(&self) -> Objective;
    /// What must be the same for a saved state to be resumed, by name: the model's config,
    /// the data and every setting that decides the batches.
    fn fingerprint(&self) -> Vec<(String, serde_json::Value)>;
}

/// The batches of `epoch` over an in-memory set of `len` samples: a shuffle seeded by the
/// run's seed and the epoch, cut into `batch_size` chunks, the first `skip` left out. The same
/// for the same arguments, so that a resumed run sees the batches an uninterrupted one would.
pub fn shuffled_batches(
    len: usize,
    batch_size: usize,
    seed: u64,
    epoch: usize,
    skip: usize,
) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..len).collect();
    order.shuffle(&mut batch_rng(seed, epoch, usize::MAX));
    order
        .chunks(batch_size.max(1))
        .skip(skip)
        .map(<[usize]>::to_vec)
        .collect()
}

/// The random generator of batch `index` of `epoch` (its augmentation, its sampling): derived
/// from the seed and the batch's place alone, so a resumed run draws what an uninterrupted one
/// would.
pub fn batch_rng(seed: u64, epoch: usize, index: usize) -> StdRng {
    StdRng::seed_from_u64(crate::sim::math::fnv1a(&[
        &seed.to_le_bytes(),
        &(epoch as u64).to_le_bytes(),
        &(index as u64).to_le_bytes(),
    ]))
}

/// A named figure of an epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub name: String,
    #[serde(deserialize_with = "crate::files::f64_or_nan")]
    pub value: f64,
}

/// The figures of one epoch (epoch 0: the model before training).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Epoch {
    pub epoch: usize,
    /// Mean training loss over the epoch's samples (NaN for epoch 0; null in JSON).
    #[serde(deserialize_with = "crate::files::f64_or_nan")]
    pub train_loss: f64,
    /// The loss's parts (`train_…`), then the validation figures, as `metrics.csv` names them.
    pub figures: Vec<Figure>,
    pub learning_rate: f64,
    pub train_samples_per_s: f64,
    pub seconds: f64,
    /// Time the training step waited for a batch.
    pub data_wait_s: f64,
}

impl Epoch {
    /// The figure called `name` (NaN when there is none).
    pub fn get(&self, name: &str) -> f64 {
        self.figures
            .iter()
            .find(|f| f.name == name)
            .map_or(f64::NAN, |f| f.value)
    }
}
