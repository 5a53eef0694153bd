//! Reports: plots as PNG and Markdown reports as HTML pages. Below every layer that reports
//! (`nn`, `drive`, `cli`): it takes plain numbers and text, never their types.

pub mod html;
pub mod plot;

pub use plotters::style::RGBColor;
