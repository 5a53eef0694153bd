//! Scenario parsing and validation: every shipped file is valid; every kind of bad input
//! gets an error naming the file, position and field.

use steerlab::Error;
use steerlab::sim::Scenario;
use steerlab::sim::scenario::{TrackSpec, builtin};
use steerlab::sim::shipped::BUILTIN;

const MINIMAL: &str = r#"Scenario(
    name: "square",
    seed: 1,
    track: ControlPoints(points: [(0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0), (0.0, 0.0)]),
)"#;

#[test]
fn shipped_scenarios_are_valid_and_cover_the_required_kinds() {
    let files = crate::scenario_files();
    assert!(files.len() >= 5, "{files:?}");
    for f in &files {
        let s = Scenario::load(f).unwrap_or_else(|e| panic!("{e}"));
        assert!(s.build_track().is_ok());
    }
    // The built-in copies are exactly the files on disk.
    for (name, text) in BUILTIN {
        let on_disk = std::fs::read_to_string(
            crate::scenario_files()
                .iter()
                .find(|p| p.ends_with(name))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(on_disk, text, "{name}");
    }
    let all = builtin().unwrap();
    assert!(
        all.iter()
            .any(|s| matches!(s.track, TrackSpec::Procedural { .. }))
    );
    assert!(
        all.iter()
            .any(|s| s.lighting.fog.is_some() && s.lighting.sun_elevation_deg < 15.0)
    );
    assert!(all.iter().any(|s| s.props.len() >= 5));
}

#[test]
fn minimal_scenario_gets_defaults() {
    let s = Scenario::from_ron(MINIMAL, "mem.ron").unwrap();
    assert_eq!(s.dt_s, 0.05);
    assert_eq!((s.camera.width_px, s.camera.height_px), (200, 66));
}

fn syntax_error(text: &str) -> (usize, usize, String, String) {
    match Scenario::from_ron(text, "bad.ron") {
        Err(Error::ScenarioSyntax {
            file,
            line,
            column,
            field,
            message,
        }) => {
            assert_eq!(file, "bad.ron");
            (line, column, field, message)
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn unknown_field_names_line_column_and_path() {
    let text = MINIMAL.replace(
        "seed: 1,",
        "seed: 1,\n    road: (width_m: 7.0, widht_m: 3.0),",
    );
    let (line, column, field, message) = syntax_error(&text);
    assert_eq!(line, 4, "{message}");
    assert!(column > 1);
    assert_eq!(field, "road.widht_m: ");
    assert!(message.contains("widht_m"), "{message}");
    let err = Scenario::from_ron(&text, "bad.ron")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("bad.ron:4:"), "{err}");
}

#[test]
fn wrong_type_names_the_nested_field() {
    let text = MINIMAL.replace(
        "seed: 1,",
        "seed: 1,\n    props: [(kind: Cone, at: Track(s_m: \"far\", offset_m: 1.0))],",
    );
    let (line, _, field, _) = syntax_error(&text);
    assert_eq!(line, 4);
    assert!(field.contains("props[0].at"), "{field}");
}

#[test]
fn unknown_enum_variant_and_truncation_are_errors_not_panics() {
    let text = MINIMAL.replace(
        "seed: 1,",
        "seed: 1,\n    props: [(kind: Spaceship, at: Absolute(x: 1.0, y: 2.0))],",
    );
    let (_, _, field, message) = syntax_error(&text);
    assert!(field.contains("props[0].kind"), "{field} {message}");
    for cut in [0, 10, 40, MINIMAL.len() / 2, MINIMAL.len() - 1] {
        assert!(Scenario::from_ron(&MINIMAL[..cut], "cut.ron").is_err());
    }
    assert!(Scenario::from_ron(&format!("{MINIMAL} trailing"), "t.ron").is_err());
}

#[test]
fn semantic_problems_are_all_reported_at_once() {
    let text = MINIMAL
        .replace("seed: 1,", "seed: 1,\n    dt_s: -1.0,\n    road: (width_m: -2.0),\n    camera: (width_px: 5, horizontal_fov_deg: 179.0, pitch_deg: -80.0),")
        .replace(", (0.0, 0.0)])", "])");
    let Err(Error::ScenarioInvalid { file, problems }) = Scenario::from_ron(&text, "sem.ron")
    else {
        panic!("expected semantic errors");
    };
    assert_eq!(file, "sem.ron");
    for needle in [
        "dt_s",
        "road.width_m",
        "camera.width_px",
        "camera.horizontal_fov_deg",
        "camera.pitch_deg",
        "not closed",
    ] {
        assert!(
            problems.iter().any(|p| p.contains(needle)),
            "missing {needle} in {problems:#?}"
        );
    }
}

#[test]
fn self_intersecting_and_overlapping_tracks_are_rejected() {
    // A bow tie: the centreline crosses itself.
    let bow = MINIMAL.replace(
        "[(0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0), (0.0, 0.0)]",
        "[(0.0, 0.0), (100.0, 100.0), (100.0, 0.0), (0.0, 100.0), (0.0, 0.0)]",
    );
    let err = Scenario::from_ron(&bow, "bow.ron").unwrap_err().to_string();
    assert!(err.contains("crosses itself"), "{err}");
    // A hairpin whose two legs are 4 m apart cannot carry a 7 m road.
    let hairpin = MINIMAL.replace(
        "[(0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0), (0.0, 0.0)]",
        "[(0.0, 0.0), (200.0, 0.0), (200.0, 60.0), (20.0, 60.0), (20.0, 4.0), (0.0, 30.0), (0.0, 0.0)]",
    );
    let err = Scenario::from_ron(&hairpin, "hairpin.ron")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("overlaps itself") || err.contains("tighter than half the road width"),
        "{err}"
    );
}

#[test]
fn procedural_tracks_are_reproducible_and_valid() {
    let make = |seed: u64, curviness: f64| {
        steerlab::sim::Track::from_spec(
            &TrackSpec::Procedural {
                seed,
                length_m: 800.0,
                curviness,
            },
            7.0,
        )
        .unwrap()
    };
    let (a, b) = (make(3, 0.8), make(3, 0.8));
    assert_eq!(a.samples(), b.samples());
    assert_ne!(make(4, 0.8).samples(), a.samples());
    for seed in 0..20 {
        let t = make(seed, 1.0);
        assert!((t.length_m() - 800.0).abs() < 2.0, "{}", t.length_m());
        assert!(t.problems(7.0).is_empty());
    }
}

#[test]
fn huge_tracks_are_refused_or_handled_without_blowing_up() {
    let far = MINIMAL.replace("(100.0, 100.0)", "(1.0e9, 1.0e9)");
    let err = Scenario::from_ron(&far, "far.ron").unwrap_err().to_string();
    assert!(err.contains("limit"), "{err}");
    // The longest procedural track allowed is generated and validated.
    let long = TrackSpec::Procedural {
        seed: 1,
        length_m: 20_000.0,
        curviness: 1.0,
    };
    let t = steerlab::sim::Track::from_spec(&long, 7.0).unwrap();
    assert!((t.length_m() - 20_000.0).abs() < 20.0);
}

/// Inputs that passed validation once and then broke something later: each is refused with
/// its field named.
#[test]
fn hostile_values_are_refused_with_the_field_named() {
    let with_props = |props: &str| MINIMAL.replace("\n)", &format!("\n    props: [{props}],\n)"));
    for (props, field) in [
        (
            "(kind: Cone, at: Track(s_m: 1.0e308, offset_m: 3.0))",
            "props[0].at",
        ),
        (
            "(kind: Cone, at: Absolute(x: 1.0e308, y: 0.0))",
            "props[0].at",
        ),
        (
            "(kind: Cone, at: Track(s_m: 10.0, offset_m: 3.0), repeat: Some((count: 100, spacing_m: 1.0e308)))",
            "props[0].repeat",
        ),
    ] {
        let err = Scenario::from_ron(&with_props(props), "far.ron")
            .unwrap_err()
            .to_string();
        assert!(err.contains(field), "{props}: {err}");
    }
    // A name becomes file names: no folders, nothing hidden.
    for name in ["../escape", "a/b", ".hidden", "c:\\\\x"] {
        let text = MINIMAL.replace("\"square\"", &format!("{name:?}"));
        let err = Scenario::from_ron(&text, "n.ron").unwrap_err().to_string();
        assert!(err.contains("name:"), "{name}: {err}");
    }
    assert!(Scenario::from_ron(&MINIMAL.replace("square", "Town 3 (v2)"), "n.ron").is_ok());
}

#[test]
fn a_byte_order_mark_is_not_a_syntax_error() {
    let with_bom = format!("\u{feff}{MINIMAL}");
    assert_eq!(
        Scenario::from_ron(&with_bom, "bom.ron").unwrap(),
        Scenario::from_ron(MINIMAL, "bom.ron").unwrap()
    );
}

#[test]
fn many_problems_are_listed_once_each_and_counted_past_twenty() {
    // 5,000 repeated control points: a short error, not 5,000 lines.
    let mut points: Vec<String> = vec!["(0.0, 0.0)".into(); 5000];
    points.extend(
        [
            "(100.0, 0.0)",
            "(100.0, 100.0)",
            "(0.0, 100.0)",
            "(0.0, 0.0)",
        ]
        .map(String::from),
    );
    let text = MINIMAL.replace(
        "[(0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0), (0.0, 0.0)]",
        &format!("[{}]", points.join(", ")),
    );
    let err = Scenario::from_ron(&text, "dup.ron")
        .unwrap_err()
        .to_string();
    assert!(err.lines().count() <= 22, "{err}");
    assert!(err.contains("repeats the previous point"), "{err}");
    assert!(err.contains("and 4979 more problems"), "{err}");
    // Past the limit of control points, one line says so.
    let many = vec!["(0.0, 0.0)"; 20_000].join(", ");
    let text = MINIMAL.replace(
        "[(0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0), (0.0, 0.0)]",
        &format!("[{many}]"),
    );
    let err = Scenario::from_ron(&text, "many.ron")
        .unwrap_err()
        .to_string();
    assert!(err.contains("the limit is 10000"), "{err}");
}
