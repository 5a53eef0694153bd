//! Reports: plots as PNG, Markdown tables and reports as HTML pages, and animated GIFs. Below every layer that reports
//! (`nn`, `drive`, `cli`): it takes plain numbers and text, never their types.

pub mod gif;
pub mod html;
pub mod plot;
pub mod table;

pub use plotters::style::RGBColor;
