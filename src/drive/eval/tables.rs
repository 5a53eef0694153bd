//! The Markdown of evaluations: tables of metrics (one row per scenario, per GPS error, per
//! route and junction manoeuvre) and the lines that go beside them. Each takes the metrics the
//! drives computed, so that a report cannot say what the counters did not count.

use crate::drive::junctions::Passages;
use crate::drive::localise::ErrorStats;
use crate::drive::metrics::{GainSums, Metrics, ON_PATH_M, ON_PATH_RAD, Supervision};
use crate::sim::map_input::GpsNoise;

/// What a policy that set its own speed did with it (empty for one that did not): the mean
/// |chosen − expert| target speed and the calibration of its speed mixture.
pub fn speed_line(m: &Metrics) -> String {
    let Some(error) = m.mean_abs_speed_error_m_s else {
        return String::new();
    };
    let pct = |v: Option<f64>| v.map_or("–".into(), |v| format!("{:.0} %", v * 100.0));
    format!(
        "Target speed against the expert's over {} ticks: mean |chosen − expert| {error:.2} m/s; \
         expert speeds inside the speed mixture's 68 % / 95 % intervals: {} / {} (calibrated: \
         68 % / 95 %).\n",
        m.speed_calibration.count(),
        pct(m.speed_coverage_1_sigma),
        pct(m.speed_coverage_2_sigma),
    )
}

/// What a drive on the car's own localisation reports of it.
pub fn localisation_line(l: &ErrorStats) -> String {
    format!(
        "\nThe car drove on its own localisation (its map cut at its filter's estimate): \
         position error median {:.2} m, 95th percentile {:.2} m; heading error median {:.1}°, \
         95th percentile {:.1}°.\n",
        l.median_m, l.p95_m, l.median_deg, l.p95_deg
    )
}

/// The name of a GPS error in tables: `true pose` or `σ 5 m / 3°`.
pub fn gps_label(gps: Option<GpsNoise>) -> String {
    match gps {
        None => "true pose".into(),
        Some(g) => format!("σ {} m / {}°", g.position_m, g.heading_deg),
    }
}

/// Driving by GPS error, one row per level, from the same metrics as `eval.md`: autonomy,
/// interventions and crashes per km, junction success by manoeuvre, route completion (drives
/// without a safety driver) and calibration.
pub fn gps_table(rows: &[(String, Metrics)]) -> String {
    let cell = |p: Passages| match p.success_pct() {
        Some(pct) => format!("{pct:.0} % ({}/{})", p.successes, p.attempts),
        None => "–".into(),
    };
    let mut t = String::from(
        "| GPS error | autonomy | interventions per km | crashes per km | junctions: left | straight | right | all | route completion | in 68 % / 95 % interval |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for (name, m) in rows {
        let j = &m.junctions;
        let calibration = match (m.coverage_1_sigma, m.coverage_2_sigma) {
            (Some(a), Some(b)) => format!("{:.0} % / {:.0} %", a * 100.0, b * 100.0),
            _ => "–".into(),
        };
        let crashes_per_km = if m.distance_km > 0.0 {
            format!("{:.2}", m.crashes as f64 / m.distance_km)
        } else {
            "–".into()
        };
        t.push_str(&format!(
            "| {name} | {:.1} % | {:.2} | {crashes_per_km} | {} | {} | {} | {} | {} | {calibration} |\n",
            m.autonomy_pct,
            m.interventions_per_km,
            cell(j.left),
            cell(j.straight),
            cell(j.right),
            cell(j.all()),
            m.route_completion_pct()
                .map_or("–".into(), |p| format!("{p:.1} %")),
        ));
    }
    t
}

/// A Markdown table of metrics, one row per name: interventions and autonomy with a safety
/// driver, the first crash without one (the supervision of the first row decides).
pub fn metrics_table(rows: &[(String, Metrics)]) -> String {
    let free = rows
        .first()
        .is_some_and(|(_, m)| m.supervision == Supervision::Free);
    let mut t = String::from(if free {
        "| | km driven | crashes | first crash | km per crash | mean abs offset (m) | max abs offset (m) | whiteness (1/m/s) | expert NLL | in 68 % / 95 % interval | PIT error |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n"
    } else {
        "| | autonomy | interventions | per km | km | mean abs offset (m) | max abs offset (m) | mean abs heading (°) | crashes | whiteness (1/m/s) | expert NLL | in 68 % / 95 % interval | PIT error |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    });
    for (name, m) in rows {
        let opt = |v: Option<f64>, digits: usize| match v {
            Some(v) => format!("{v:.digits$}"),
            None => "–".into(),
        };
        let calibration = match (m.coverage_1_sigma, m.coverage_2_sigma) {
            (Some(a), Some(b)) => format!("{:.0} % / {:.0} %", a * 100.0, b * 100.0),
            _ => "–".into(),
        };
        let scores = format!(
            "{} | {calibration} | {}",
            opt(m.expert_nll, 2),
            opt(m.calibration_error, 3)
        );
        if free {
            let first = match m.first_crash {
                Some(c) => format!("{} after {:.0} m, {:.1} s", c.cause, c.distance_m, c.time_s),
                None if m.crashes == 0 => "none".into(),
                None => "–".into(),
            };
            t.push_str(&format!(
                "| {name} | {:.2} | {} | {first} | {} | {:.3} | {:.2} | {:.3} | {scores} |\n",
                m.distance_km,
                m.crashes,
                match m.km_per_crash() {
                    Some(v) => format!("{v:.2}"),
                    None => format!("> {:.2}", m.distance_km),
                },
                m.mean_abs_offset_m,
                m.max_abs_offset_m,
                m.whiteness_per_m_s,
            ));
        } else {
            t.push_str(&format!(
                "| {name} | {:.1} % | {} | {:.2} | {:.2} | {:.3} | {:.2} | {:.2} | {} | {:.3} | {scores} |\n",
                m.autonomy_pct,
                m.interventions,
                m.interventions_per_km,
                m.distance_km,
                m.mean_abs_offset_m,
                m.max_abs_offset_m,
                m.mean_abs_heading_error_rad.to_degrees(),
                m.crashes,
                m.whiteness_per_m_s,
            ));
        }
    }
    t.push_str(&junction_table(rows));
    t.push_str(&gain_table(rows));
    t.push_str(&route_table(rows));
    t.push_str(&stall_notes(rows));
    t
}

/// In a town: the policy's steering gain (its curvature regressed on the expert's label) by
/// place, on its path and off it; empty where no tick was counted.
pub fn gain_table(rows: &[(String, Metrics)]) -> String {
    if rows.iter().all(|(_, m)| m.steering_gains.is_empty()) {
        return String::new();
    }
    let cell = |[on, off]: [GainSums; 2]| {
        let gain = |g: GainSums| g.gain().map_or("–".into(), |x| format!("{x:.2}"));
        format!(
            "{} ({}) / {} ({})",
            gain(on),
            on.ticks,
            gain(off),
            off.ticks
        )
    };
    let mut t = format!(
        "\nSteering gain: the policy's curvature regressed on the expert's label (1: it steers as \
         the expert asks; 0: it ignores it), on the car's path (|offset| < {ON_PATH_M} m and \
         |heading error| < {ON_PATH_RAD} rad) / off it, with the ticks counted; off the path the \
         label is mostly the way back\n\n\
         | | road | approach | junction |\n|---|---|---|---|\n"
    );
    for (name, m) in rows {
        let g = &m.steering_gains;
        t.push_str(&format!(
            "| {name} | {} | {} | {} |\n",
            cell(g.road),
            cell(g.approach),
            cell(g.junction)
        ));
    }
    t
}

/// Drives that stalled or ran out of time, which count as failures whatever their autonomy.
pub fn stall_notes(rows: &[(String, Metrics)]) -> String {
    let mut t = String::new();
    for (name, m) in rows {
        if let Some(why) = &m.stall {
            let name = name.replace('*', "");
            t.push_str(&format!("\n**{name} stalled** (a failure): {why}.\n"));
        }
        if m.timed_out > 0 {
            t.push_str(&format!(
                "\n**{name} ran out of time** (a failure): {} drive(s) ended before their distance.\n",
                m.timed_out
            ));
        }
    }
    t
}

/// Route completion of free drives in towns, when there are any.
pub fn route_table(rows: &[(String, Metrics)]) -> String {
    if rows.iter().all(|(_, m)| m.route_planned_km == 0.0) {
        return String::new();
    }
    let mut t = String::from(
        "\nRoute completion: each drive ends at its first crash or its first departure from the \
         route (off its lane for 15 m), when it stalls (stands still for a minute) or when its \
         time runs out\n\n| | planned km | driven km | route completion | \
         ended off the route | ended in a crash | stalled | out of time |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for (name, m) in rows {
        t.push_str(&format!(
            "| {name} | {:.2} | {:.2} | {} | {} | {} | {} | {} |\n",
            m.route_planned_km,
            m.route_completed_km,
            m.route_completion_pct()
                .map_or("–".into(), |p| format!("{p:.1} %")),
            m.left_route,
            m.crashes,
            m.stalls,
            m.timed_out
        ));
    }
    t
}

/// Junction success by manoeuvre (passages that left on the route's road / passages), when
/// any drive went through a junction.
pub fn junction_table(rows: &[(String, Metrics)]) -> String {
    if rows.iter().all(|(_, m)| m.junctions.all().attempts == 0) {
        return String::new();
    }
    let cell = |p: Passages| match p.success_pct() {
        Some(pct) => format!("{}/{} ({pct:.0} %)", p.successes, p.attempts),
        None => "–".into(),
    };
    let mut t = String::from(
        "\nJunctions: passages that left on the route's road / passages; where the safety driver \
         took over: on a road, on the approach to a junction (its last 30 m, where the command \
         names the manoeuvre) or inside one; where failed passages first left the route, on \
         average, in percent of the turn path's length from its start (over 100 %: past it)\n\n\
         | | left | straight | right | u-turn | all | interventions: road / approach / junction | failed: left the route at (left / straight / right) |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    let at = |p: Passages| match p.failed_at_pct() {
        Some(pct) => format!("{pct:.0} %"),
        None => "–".into(),
    };
    for (name, m) in rows {
        let j = &m.junctions;
        let p = &m.intervention_places;
        t.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} | {} / {} / {} | {} / {} / {} |\n",
            cell(j.left),
            cell(j.straight),
            cell(j.right),
            cell(j.u_turn),
            cell(j.all()),
            p.road,
            p.approach,
            p.junction,
            at(j.left),
            at(j.straight),
            at(j.right),
        ));
    }
    t
}
