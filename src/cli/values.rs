//! The command line's names for the library's choices: clap's `ValueEnum` for the enums that
//! arguments pick, here so that no layer below the command line depends on clap.

use crate::app::session::Driver;
use crate::drive::Choice;
use crate::sim::map_input::MapMode;
use clap::ValueEnum;
use clap::builder::PossibleValue;

impl ValueEnum for MapMode {
    fn value_variants<'a>() -> &'a [Self] {
        &[MapMode::None, MapMode::Unrouted, MapMode::Routed]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            MapMode::None => PossibleValue::new("none").help("No map: the camera alone"),
            MapMode::Unrouted => PossibleValue::new("unrouted")
                .help("The drivable area only: at a junction every exit is open"),
            MapMode::Routed => {
                PossibleValue::new("routed").help("The drivable area and the route ahead")
            }
        })
    }
}

impl ValueEnum for Choice {
    fn value_variants<'a>() -> &'a [Self] {
        &[Choice::Mode, Choice::Mean, Choice::Sample]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            Choice::Mode => {
                PossibleValue::new("mode").help("The mean of the most likely component")
            }
            Choice::Mean => PossibleValue::new("mean").help("The mixture's mean"),
            Choice::Sample => PossibleValue::new("sample").help("A draw from the mixture (seeded)"),
        })
    }
}

impl ValueEnum for Driver {
    fn value_variants<'a>() -> &'a [Self] {
        &[Driver::Manual, Driver::Expert, Driver::Policy]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            Driver::Manual => PossibleValue::new("manual").help("The keyboard (arrows or WASD)"),
            Driver::Expert => PossibleValue::new("expert")
                .help("The privileged expert (pure pursuit on the centreline)"),
            Driver::Policy => {
                PossibleValue::new("policy").help("The trained policy, from the camera frame")
            }
        })
    }
}
