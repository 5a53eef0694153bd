//! What the heads-up display draws, as plain pixels and text (no Bevy here, so it is tested
//! like any other function): the steering distribution over the curvature range with the chosen
//! and the expert's actions marked, and the lines of figures beside it.

use crate::app::session::{Driver, Snapshot};
use crate::nn::{SpeedDistribution, SteeringDistribution};

/// Half-widths the plot's curvature axis snaps to, 1/m.
const RANGES_PER_M: [f64; 6] = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5];

pub const CURVE: [u8; 4] = [90, 170, 255, 255];
pub const FILL: [u8; 4] = [40, 90, 150, 200];
pub const CHOSEN: [u8; 4] = [255, 255, 255, 255];
pub const EXPERT: [u8; 4] = [60, 230, 90, 255];
const BACKGROUND: [u8; 4] = [15, 15, 20, 190];
const AXIS: [u8; 4] = [110, 110, 120, 255];

/// The half-width of the curvature axis: the smallest of 0.01, 0.02, 0.05, 0.1, 0.2 and 0.5 1/m
/// that holds both actions and every component's mean ± 4σ (at most 0.5). A trained policy is
/// sharp; a fixed ±0.2 would draw it as one column.
pub fn plot_range(
    distribution: Option<&SteeringDistribution>,
    chosen: Option<f64>,
    expert: Option<f64>,
) -> f64 {
    let mut need = chosen.unwrap_or(0.0).abs().max(expert.unwrap_or(0.0).abs());
    if let Some(d) = distribution {
        for c in d.components().iter().filter(|c| c.weight > 0.01) {
            need = need.max(c.mean.abs() + 4.0 * c.std_dev);
        }
    }
    RANGES_PER_M
        .into_iter()
        .find(|&r| r >= need * 1.1)
        .unwrap_or(RANGES_PER_M[RANGES_PER_M.len() - 1])
}

/// The column of curvature `k` in a plot `width` pixels wide spanning ±`range` (left turns on
/// the left, as the road is seen).
pub fn column(k: f64, width: usize, range: f64) -> usize {
    let u = 0.5 - (k / range).clamp(-1.0, 1.0) * 0.5;
    ((u * (width - 1) as f64).round() as usize).min(width - 1)
}

/// The distribution plot as RGBA8, `width`×`height`, over ±`range` 1/m: the density (scaled
/// to its peak) filled under its curve, the zero line, the chosen curvature (white) and the
/// expert's (green).
pub fn distribution_plot(
    (width, height): (usize, usize),
    range: f64,
    distribution: Option<&SteeringDistribution>,
    chosen: Option<f64>,
    expert: Option<f64>,
) -> Vec<u8> {
    let mut px = vec![0u8; width * height * 4];
    let mut put = |x: usize, y: usize, c: [u8; 4]| {
        if x < width && y < height {
            px[(y * width + x) * 4..][..4].copy_from_slice(&c);
        }
    };
    for y in 0..height {
        for x in 0..width {
            put(x, y, BACKGROUND);
        }
    }
    let zero = column(0.0, width, range);
    for y in 0..height {
        put(zero, y, AXIS);
    }
    for x in 0..width {
        put(x, height - 1, AXIS);
    }
    if let Some(d) = distribution {
        let k = |x: usize| (0.5 - x as f64 / (width - 1) as f64) * 2.0 * range;
        let values: Vec<f64> = (0..width).map(|x| d.pdf(k(x))).collect();
        let peak = values.iter().cloned().fold(f64::MIN_POSITIVE, f64::max);
        let top = |v: f64| (height - 1) - ((v / peak) * (height - 4) as f64).round() as usize;
        for (x, &v) in values.iter().enumerate() {
            let y = top(v);
            for yy in y..height - 1 {
                put(x, yy, FILL);
            }
            put(x, y, CURVE);
            if y > 0 {
                put(x, y - 1, CURVE);
            }
        }
    }
    let mut marker = |k: f64, c: [u8; 4]| {
        let x = column(k, width, range);
        for y in 0..height {
            put(x, y, c);
            put(x + 1, y, c);
        }
    };
    if let Some(e) = expert {
        marker(e, EXPERT);
    }
    if let Some(c) = chosen {
        marker(c, CHOSEN);
    }
    px
}

/// Detections scoring below this are not drawn.
pub const BOX_SCORE: f64 = 0.5;

/// The frame a click at `x` on a scrub bar spanning `left..left + width` pixels selects, of
/// `count` frames (the ends of the bar are the first and the last frame).
pub fn scrub_index(x: f32, left: f32, width: f32, count: usize) -> usize {
    let u = ((x - left) / width.max(1.0)).clamp(0.0, 1.0);
    (u * count.saturating_sub(1) as f32).round() as usize
}

/// The HUD's lines of figures for a snapshot, and the keys.
pub fn status_lines(s: &Snapshot, window_fps: f64) -> Vec<String> {
    let mut lines = vec![
        format!(
            "{}  tick {}  {}",
            s.scenario.name,
            s.state.tick,
            if s.paused { "PAUSED" } else { "" }
        ),
        format!(
            "driver {}   speed {:.1} m/s",
            s.driver.name(),
            s.state.vehicle.speed_m_s
        ),
        format!(
            "offset {:+.2} m   heading error {:+.1} deg{}",
            s.state.lateral_offset_m,
            s.state.heading_error_rad.to_degrees(),
            match s.state.crash {
                Some(crash) => format!("   CRASH: {crash}"),
                None => String::new(),
            }
        ),
    ];
    if let Some(r) = &s.state.route {
        lines.push(if r.in_junction {
            format!("route: {:?} through {} now", r.turn, r.junction)
        } else {
            format!(
                "route: {:?} at {} in {:.0} m{}",
                r.turn,
                r.junction,
                r.distance_to_junction_m,
                if s.traffic.is_empty() {
                    String::new()
                } else {
                    format!("   traffic {} cars", s.traffic.len())
                }
            )
        });
    }
    if let Some(m) = &s.metrics {
        lines.push(format!(
            "policy autonomy {:.1} %   interventions {}   crashes {}   {:.2} km",
            m.autonomy_pct, m.interventions, m.crashes, m.distance_km
        ));
    }
    let applied = s.applied.map(|a| a.curvature_per_m);
    lines.push(format!(
        "curvature: applied {}   expert {:+.4} 1/m",
        applied.map_or("–".into(), |k| format!("{k:+.4}")),
        s.expert.curvature_per_m
    ));
    match &s.policy {
        Some(p) => lines.push(match &p.live {
            Some(l) => format!(
                "inference {:.1} ms   {} ticks behind   skipped {} of {} frames",
                l.latency_ms, l.frame_lag, l.skipped, l.offered
            ),
            None => format!("policy: chose {:+.4} 1/m", p.chosen_per_m),
        }),
        None if s.driver == Driver::Policy => lines.push("policy: waiting for inference".into()),
        None => {}
    }
    if let Some((d, chosen)) = s.policy.as_ref().and_then(|p| p.speed.as_ref()) {
        lines.push(speed_line(d, *chosen, s.expert.speed_m_s));
    }
    if let Some(d) = &s.detections {
        let shown = d.boxes.iter().filter(|(b, _)| b.score >= BOX_SCORE).count();
        lines.push(format!(
            "detector: {shown} objects   {:.1} ms   {} ticks behind",
            d.latency_ms, d.frame_lag
        ));
    }
    if let Some((index, count, speed)) = s.playback {
        lines.push(format!(
            "replay frame {} of {count}   speed x{speed}",
            index + 1
        ));
    }
    lines.push(format!("window {window_fps:.0} frames/s"));
    if let Some(message) = &s.message {
        lines.push(message.clone());
    }
    lines
}

/// The policy's speed: the target it chose, the expert's, and its mixture's components (mean
/// ± standard deviation, weight) from the slowest, those under 5 % left out.
pub fn speed_line(d: &SpeedDistribution, chosen_m_s: f64, expert_m_s: f64) -> String {
    let mut parts: Vec<_> = d.components().iter().filter(|c| c.weight >= 0.05).collect();
    parts.sort_by(|a, b| a.mean.total_cmp(&b.mean));
    let parts: Vec<String> = parts
        .iter()
        .map(|c| format!("{:.1}±{:.1} ({:.0} %)", c.mean, c.std_dev, c.weight * 100.0))
        .collect();
    format!(
        "speed: policy chose {chosen_m_s:.1} m/s (expert {expert_m_s:.1})   mixture {}",
        parts.join(", ")
    )
}

/// The key legend of the live window and of the replay viewer.
pub const LIVE_KEYS: &str = "arrows/WASD drive | Tab, 1/2/3: manual/expert/policy | Space pause | \
. step | R reset | J/K/L next junction left/straight/right | N next world | C record | \
wheel, right drag: view | Esc quit";
pub const REPLAY_KEYS: &str = "Space play/pause | Left/Right one frame (Shift: 10) | Up/Down speed | \
Home start | click or drag the bar to scrub | Esc quit";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_speed_line_lists_the_likely_components_slowest_first() {
        let d = SteeringDistribution::new(&[0.7, 0.27, 0.03], &[8.04, 0.0, 4.0], &[0.5, 0.3, 1.0])
            .unwrap();
        let line = speed_line(&d, 5.6, 7.0);
        assert_eq!(
            line,
            "speed: policy chose 5.6 m/s (expert 7.0)   mixture 0.0±0.3 (27 %), 8.0±0.5 (70 %)"
        );
    }

    #[test]
    fn the_plot_peaks_at_the_mode_and_marks_both_actions() {
        let d = SteeringDistribution::new(&[1.0], &[0.05], &[0.01]).unwrap();
        let (w, h) = (201, 60);
        let range = plot_range(Some(&d), Some(-0.1), Some(0.1));
        assert_eq!(range, 0.2);
        let px = distribution_plot((w, h), range, Some(&d), Some(-0.1), Some(0.1));
        let at = |x: usize, y: usize| -> [u8; 4] { px[(y * w + x) * 4..][..4].try_into().unwrap() };
        // Left turns on the left: +0.05 is a quarter of the way from the centre to the left edge.
        let peak = column(0.05, w, range);
        assert_eq!(peak, 75);
        let curve_top = |x: usize| (0..h).find(|&y| at(x, y) == CURVE);
        assert!(curve_top(peak).unwrap() <= 3, "{:?}", curve_top(peak));
        assert!(curve_top(peak + 30).is_none_or(|y| y > h - 5));
        // The markers: chosen −0.1 at three quarters, expert +0.1 at one quarter.
        assert_eq!(at(column(-0.1, w, range), h / 2), CHOSEN);
        assert_eq!(at(column(0.1, w, range), h / 2), EXPERT);
        assert_eq!((column(-0.1, w, range), column(0.1, w, range)), (150, 50));
        // A sharp policy near straight ahead gets a narrow axis.
        let sharp = SteeringDistribution::new(&[1.0], &[0.012], &[0.001]).unwrap();
        assert_eq!(plot_range(Some(&sharp), Some(0.012), Some(0.013)), 0.02);
        // A box's outline, clipped to the image, nothing inside it.
        let mut image = vec![0u8; 10 * 6 * 4];
        crate::nn::models::detect::boxes::draw_outline(
            &mut image,
            10,
            4,
            &crate::nn::models::detect::boxes::BBox::new(2.0, 1.0, 5.0, 9.0),
            [9, 8, 7],
        );
        let drawn: Vec<(usize, usize)> = (0..60)
            .filter(|i| image[i * 4] == 9)
            .map(|i| (i % 10, i / 10))
            .collect();
        assert!(drawn.contains(&(2, 1)) && drawn.contains(&(4, 5)) && drawn.contains(&(3, 1)));
        assert!(!drawn.contains(&(3, 3)) && drawn.iter().all(|&(x, _)| (2..=4).contains(&x)));
        // The scrub bar: ends are the first and last frames, clicks outside are clamped.
        assert_eq!(scrub_index(16.0, 16.0, 1000.0, 101), 0);
        assert_eq!(scrub_index(516.0, 16.0, 1000.0, 101), 50);
        assert_eq!(scrub_index(2000.0, 16.0, 1000.0, 101), 100);
        assert_eq!(scrub_index(0.0, 16.0, 1000.0, 101), 0);
        // Without a distribution only the axes and the markers are drawn.
        let empty = distribution_plot((w, h), 0.2, None, None, Some(0.0));
        assert!(empty.chunks(4).all(|c| c != CURVE));
    }
}
