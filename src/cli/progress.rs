//! Training progress on the terminal for every training command: a bar per epoch, a line of
//! figures after it, and Ctrl-C turned into "save the state and stop".

use crate::nn::train::{Epoch, Observer, Report, Run};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A training run on the terminal: a bar per epoch, then a line of its figures.
pub(crate) struct Bar {
    bar: Option<ProgressBar>,
    loss: f64,
    /// What a sample is called ("samples", "frames", "images").
    unit: &'static str,
    /// The line printed after each epoch (the epoch, whether it was the best so far).
    line: Box<dyn Fn(&Epoch, bool) -> String>,
}

impl Bar {
    pub(crate) fn new(unit: &'static str, line: Box<dyn Fn(&Epoch, bool) -> String>) -> Self {
        Self {
            bar: None,
            loss: f64::NAN,
            unit,
            line,
        }
    }
}

impl Observer for Bar {
    fn started(&mut self, r: &Report) {
        for w in &r.warnings {
            eprintln!("warning: {w}");
        }
        println!(
            "{} parameters; {} training and {} validation {}; {} threads, OpenBLAS kernels {}",
            r.parameters,
            r.train_samples,
            r.validation_samples,
            self.unit,
            rayon::current_num_threads(),
            crate::nn::ops::blas_kernels()
        );
    }

    fn epoch_started(&mut self, epoch: usize, batches: usize, done: usize) {
        let bar = ProgressBar::new(batches as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "epoch {prefix:>3} [{bar:30}] {pos}/{len} {msg} ({elapsed}<{eta})",
            )
            .expect("template")
            .progress_chars("=> "),
        );
        bar.set_prefix(epoch.to_string());
        bar.set_position(done as u64);
        self.bar = Some(bar);
    }

    fn batch_done(&mut self, loss: f64, samples_per_s: f64) {
        self.loss = if self.loss.is_finite() {
            0.9 * self.loss + 0.1 * loss
        } else {
            loss
        };
        if let Some(bar) = &self.bar {
            bar.set_message(format!(
                "loss {:.3} {samples_per_s:.0} {}/s",
                self.loss, self.unit
            ));
            bar.inc(1);
        }
    }

    fn epoch_done(&mut self, epoch: &Epoch, improved: bool) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        println!("{}", (self.line)(epoch, improved));
    }
}

/// A flag Ctrl-C raises: training saves its state and stops; a second Ctrl-C while saving
/// ends the process at once.
pub(crate) fn interrupt_on_ctrl_c() -> Arc<AtomicBool> {
    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = interrupt.clone();
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: saving the training state (Ctrl-C again to quit without saving)");
    });
    interrupt
}

/// A run writing into the model directory `out`, stopped by `interrupt`, shown by `bar`.
pub(crate) fn run_into<'a>(
    out: &'a Path,
    resume: bool,
    interrupt: &'a AtomicBool,
    bar: &'a mut Bar,
) -> Run<'a> {
    Run {
        out: Some(out),
        resume,
        warm_start: false,
        interrupt,
        observer: bar,
    }
}
