//! `metrics.csv` and `curves.png`: a run's figures per epoch, written after every epoch.

use crate::error::Result;
use crate::files::write_atomic;
use crate::nn::train::task::Epoch;
use crate::report::plot;
use std::path::Path;

pub const METRICS_CSV: &str = "metrics.csv";
pub const CURVES_PNG: &str = "curves.png";

/// Writes `metrics.csv` (epoch, the train loss and figures named by `columns`, learning
/// rate, samples/s, seconds, data wait) and `curves.png` into `out`.
pub fn write_metrics(out: &Path, columns: &[String], history: &[Epoch]) -> Result<()> {
    let mut csv = format!(
        "epoch,{},learning_rate,train_samples_per_s,seconds,data_wait_s\n",
        columns.join(",")
    );
    for m in history {
        let figures: Vec<String> = std::iter::once(m.train_loss)
            .chain(m.figures.iter().map(|f| f.value))
            .map(|v| v.to_string())
            .collect();
        csv += &format!(
            "{},{},{},{},{},{}\n",
            m.epoch,
            figures.join(","),
            m.learning_rate,
            m.train_samples_per_s,
            m.seconds,
            m.data_wait_s
        );
    }
    write_atomic(&out.join(METRICS_CSV), csv.as_bytes())?;
    let series = |name: &str| -> Vec<(f64, f64)> {
        history
            .iter()
            .map(|m| {
                let v = if name == columns[0] {
                    m.train_loss
                } else {
                    m.get(name)
                };
                (m.epoch as f64, v)
            })
            .collect()
    };
    let panel = |title: &str, names: &[String]| plot::LinePanel {
        title: title.into(),
        x_label: "epoch".into(),
        y_label: String::new(),
        series: names.iter().map(|n| (n.clone(), series(n))).collect(),
        colours: Vec::new(),
    };
    // Losses on the left (the train loss, its parts, validation figures named like it), the
    // other validation figures on the right.
    let (losses, others): (Vec<String>, Vec<String>) = columns
        .iter()
        .cloned()
        .partition(|c| c.starts_with("train_") || c.ends_with(&columns[0]["train_".len()..]));
    let mut panels = vec![panel("loss", &losses)];
    if !others.is_empty() {
        panels.push(panel("validation", &others));
    }
    plot::line_panels(&out.join(CURVES_PNG), &panels)
}
