//! The task of a model trained on labelled examples held in memory (the classifier on images
//! and their classes, the segmenter on frames and their class masks): shuffled batches, a
//! loss of the model's output against the targets, figures on held-out examples.

use crate::error::Result;
use crate::nn::models::checkpoint::ModelDir;
use crate::nn::train::task::{Batches, Loss, Objective, Task, shuffled_batches};
use candle_core::Tensor;

/// Examples held in memory: how many, and a batch of inputs and targets.
pub trait Examples {
    fn len(&self) -> usize;
    fn batch(&self, indices: &[usize]) -> Result<(Tensor, Tensor)>;
}

/// A model, its training and held-out examples, and what is its own: the loss and the
/// held-out figures.
pub struct Supervised<'a, M, E> {
    pub model: &'a M,
    pub train: &'a E,
    pub test: &'a E,
    pub batch_size: usize,
    pub seed: u64,
    /// The loss of the model on inputs against targets.
    pub loss: fn(&M, &Tensor, &Tensor) -> Result<Tensor>,
    /// The held-out figures named by `validation_names`.
    pub validate: fn(&M, &E) -> Result<Vec<f64>>,
    pub validation_names: &'static [&'static str],
    pub objective: Objective,
}

impl<M: ModelDir, E: Examples> Task for Supervised<'_, M, E> {
    type Model = M;
    type Batch = (Tensor, Tensor, usize);

    fn model(&self) -> &M {
        self.model
    }

    fn train_len(&self) -> usize {
        self.train.len()
    }

    fn validation_len(&self) -> usize {
        self.test.len()
    }

    fn batches(&self, epoch: usize, skip: usize) -> Result<Batches<'_, Self::Batch>> {
        let chunks = shuffled_batches(self.train.len(), self.batch_size, self.seed, epoch, skip);
        Ok(Box::new(chunks.into_iter().map(|chunk| {
            let (inputs, targets) = self.train.batch(&chunk)?;
            Ok((inputs, targets, chunk.len()))
        })))
    }

    fn loss(&self, (inputs, targets, samples): &Self::Batch) -> Result<Loss> {
        Ok(Loss {
            total: (self.loss)(self.model, inputs, targets)?,
            samples: *samples,
            parts: Vec::new(),
        })
    }

    fn validate(&self) -> Result<Vec<f64>> {
        (self.validate)(self.model, self.test)
    }

    fn validation_names(&self) -> Vec<String> {
        self.validation_names
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn objective(&self) -> Objective {
        self.objective
    }

    fn fingerprint(&self) -> Vec<(String, serde_json::Value)> {
        vec![
            (
                "model config".into(),
                serde_json::to_value(self.model.config()).unwrap_or_default(),
            ),
            (
                "examples".into(),
                [self.train.len(), self.test.len()].into(),
            ),
            ("--seed".into(), self.seed.into()),
        ]
    }
}
