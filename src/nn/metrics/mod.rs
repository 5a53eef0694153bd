//! Scores of what a model outputs: calibration of a predicted distribution against the
//! expert's actions ([`calibration`]), a detector's AP ([`detection`]), and a training run's
//! figures per epoch ([`curves`]).

pub mod calibration;
pub mod curves;
pub mod detection;
