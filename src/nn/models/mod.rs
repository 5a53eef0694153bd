//! The models, one home each with its config: the steering network ([`steering`]: its config,
//! presets and speed head), the classifier ([`classify`]), the segmenter ([`segment`]), the
//! two-stage detector ([`detect`]) and the sliding-window detector it replaces ([`slide`]),
//! either behind one call ([`any_detector`]).
//! What they share: the backbone ([`backbone`]), dense layers ([`linear`]), a trunk's layer
//! specs ([`layer_spec`]), the mixture heads' outputs ([`mixture`], [`distribution`]), and
//! checkpoints on disk ([`checkpoint`]).

pub mod any_detector;
pub mod backbone;
pub mod checkpoint;
pub mod classify;
pub mod detect;
pub mod distribution;
pub mod layer_spec;
pub mod linear;
pub mod mixture;
pub mod segment;
pub mod slide;
pub mod steering;
