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

/// The towns the main job's navigation stage trains in.
pub const TOWNS: [(&str, &str); 4] = [
    shipped!("town.ron"),
    shipped!("town_traffic.ron"),
    shipped!("town_dusk_traffic.ron"),
    shipped!("town_small.ron"),
];

/// Generated towns whose seeds no training draw uses: the navigation stage's held-out towns.
pub const HELDOUT_TOWNS: [(&str, &str); 2] = [
    shipped!("heldout_towns/town_north.ron"),
    shipped!("heldout_towns/town_south.ron"),
];
