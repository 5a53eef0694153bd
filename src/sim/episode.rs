//! Episode bookkeeping: distance driven and off-road events.

use serde::{Deserialize, Serialize};

/// Running totals of one car's episode.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EpisodeStats {
    pub steps: u64,
    /// Path length driven, metres.
    pub distance_m: f64,
    /// Times the car left the road (|lateral offset| crossed half the road width).
    pub off_road_events: u32,
    /// Ticks spent off the road.
    pub off_road_steps: u64,
    pub max_abs_lateral_offset_m: f64,
    sum_abs_lateral_offset_m: f64,
    /// Whether the car is off the road now.
    pub off_road: bool,
}

impl EpisodeStats {
    /// Records one tick: distance moved and where the car ended relative to the road.
    pub fn record(&mut self, distance_m: f64, lateral_offset_m: f64, road_half_width_m: f64) {
        self.steps += 1;
        self.distance_m += distance_m;
        let abs = lateral_offset_m.abs();
        self.max_abs_lateral_offset_m = self.max_abs_lateral_offset_m.max(abs);
        self.sum_abs_lateral_offset_m += abs;
        let off = abs > road_half_width_m;
        if off {
            self.off_road_steps += 1;
            if !self.off_road {
                self.off_road_events += 1;
            }
        }
        self.off_road = off;
    }

    pub fn mean_abs_lateral_offset_m(&self) -> f64 {
        if self.steps == 0 {
            0.0
        } else {
            self.sum_abs_lateral_offset_m / self.steps as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaving_the_road_counts_once_per_excursion() {
        let mut st = EpisodeStats::default();
        for off in [0.0, 4.0, 4.5, 1.0, -3.6, -3.0] {
            st.record(1.0, off, 3.5);
        }
        assert_eq!(st.off_road_events, 2);
        assert_eq!(st.off_road_steps, 3);
        assert_eq!(st.distance_m, 6.0);
    }
}
