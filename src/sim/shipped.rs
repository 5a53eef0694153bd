//! The scenario files compiled into the binary: the built-in set every command falls back to.

macro_rules! shipped {
    ($file:literal) => {
        ($file, include_str!(concat!("../../scenarios/", $file)))
    };
}

/// The scenarios shipped in `scenarios/`, compiled into the binary: `(file name, RON text)`.
pub const BUILTIN: [(&str, &str); 6] = [
    shipped!("oval.ron"),
    shipped!("winding.ron"),
    shipped!("props.ron"),
    shipped!("dusk_fog.ron"),
    shipped!("procedural.ron"),
    shipped!("switchbacks.ron"),
];
