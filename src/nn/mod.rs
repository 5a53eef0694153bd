//! Learning: the steering distribution a policy outputs (Amini et al. 2019, "Variational
//! End-to-End Navigation and Localization": a Gaussian mixture over curvature).

pub mod distribution;

pub use distribution::{Component, SteeringDistribution};
