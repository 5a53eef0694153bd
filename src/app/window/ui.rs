//! The HUD over the chase view: the figures of the drive (top left), the network's own camera
//! frame with the detector's boxes and the steering distribution (top right), the recording
//! badge, the replay's progress bar and the key legend (bottom). What is drawn comes from
//! [`crate::app::hud`] as plain pixels and lines; this module lays it out in Bevy's UI and
//! redraws it when the snapshot shown changes.

use super::clock::Clock;
use super::receiver::Current;
use super::schedule::WindowSystems;
use crate::app::hud;
use crate::nn::models::detect::boxes::{BOX_COLOURS, draw_outline};
use crate::sim::Frame;
use bevy::asset::RenderAssetUsages;
use bevy::image::ImageSampler;
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};

/// Where the scrub bar sits: `SCRUB_MARGIN` from both sides, `SCRUB_BOTTOM` above the bottom
/// (the [input](super::input) finds clicks on it from these).
pub(super) const SCRUB_MARGIN: f32 = 16.0;
pub(super) const SCRUB_BOTTOM: f32 = 40.0;
pub(super) const SCRUB_HEIGHT: f32 = 14.0;

/// The network's frame is small (a PilotNet frame is 200×66): shown three times its size.
const INSET_SCALE: f32 = 3.0;
const PLOT_SIZE: (usize, usize) = (600, 140);
const PANEL: Color = Color::srgba(0.05, 0.05, 0.08, 0.72);
const CAPTION: Color = Color::srgb(0.8, 0.8, 0.85);

/// The key legend shown at the bottom (live and replay windows have different keys).
#[derive(Resource)]
pub(super) struct KeyLegend(pub(super) &'static str);

/// The images the HUD draws into.
#[derive(Resource)]
struct HudImages {
    inset: Handle<Image>,
    map: Handle<Image>,
    plot: Handle<Image>,
}

#[derive(Component)]
struct StatusText;

#[derive(Component)]
struct RecordingBadge;

#[derive(Component)]
struct PlotCaption;

/// The colour key of the detector's boxes while it waits for the first detections to name
/// its classes (the marker goes once it is filled in).
#[derive(Component)]
struct EmptyBoxLegend;

/// The replay's progress bar and its filled part.
#[derive(Component)]
struct ScrubBar;

#[derive(Component)]
struct ScrubFill;

/// The map patch a navigation policy reads and its caption: shown once a map arrives.
#[derive(Component)]
struct MapInset;

/// Pixels per map pixel in the HUD.
const MAP_SCALE: f32 = 2.5;

pub(super) fn plugin(app: &mut App) {
    app.add_systems(Startup, spawn_hud);
    app.add_systems(
        Update,
        (
            fill_box_legend,
            draw_inset,
            draw_map,
            draw_plot,
            write_status,
            show_playback,
            show_recording,
        )
            .in_set(WindowSystems::Hud)
            // A frame without a new snapshot draws the HUD it has.
            .run_if(resource_changed::<Current>),
    );
}

fn rgba_image(width: u32, height: u32, nearest: bool) -> Image {
    let mut image = Image::new(
        Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
        TextureDimension::D2,
        vec![0; (width * height * 4) as usize],
        TextureFormat::Rgba8UnormSrgb,
        RenderAssetUsages::MAIN_WORLD | RenderAssetUsages::RENDER_WORLD,
    );
    // The network's frame is shown in its own pixels, the plot smoothly.
    if nearest {
        image.sampler = ImageSampler::nearest();
    }
    image
}

fn spawn_hud(mut commands: Commands, mut images: ResMut<Assets<Image>>, keys: Res<KeyLegend>) {
    // The inset is sized on the first snapshot; a PilotNet frame until then.
    let inset = images.add(rgba_image(200, 66, true));
    let plot = images.add(rgba_image(PLOT_SIZE.0 as u32, PLOT_SIZE.1 as u32, false));
    let map = images.add(rgba_image(64, 64, true));
    let text = |size: f32| TextFont::from_font_size(size);
    commands
        .spawn((
            Node {
                position_type: PositionType::Absolute,
                top: Val::Px(12.0),
                left: Val::Px(12.0),
                max_width: Val::Px(620.0),
                padding: UiRect::all(Val::Px(10.0)),
                ..default()
            },
            BackgroundColor(PANEL),
        ))
        .with_child((
            Text::new(""),
            text(16.0),
            TextColor(Color::WHITE),
            StatusText,
        ));

    commands
        .spawn((
            Node {
                position_type: PositionType::Absolute,
                top: Val::Px(12.0),
                right: Val::Px(12.0),
                width: Val::Px(200.0 * INSET_SCALE + 16.0),
                flex_direction: FlexDirection::Column,
                row_gap: Val::Px(6.0),
                padding: UiRect::all(Val::Px(8.0)),
                ..default()
            },
            BackgroundColor(PANEL),
        ))
        .with_children(|p| {
            p.spawn((
                ImageNode::new(inset.clone()),
                Node {
                    width: Val::Px(200.0 * INSET_SCALE),
                    height: Val::Px(66.0 * INSET_SCALE),
                    ..default()
                },
            ));
            p.spawn((
                Text::new("map input: red paved, green the route ahead"),
                text(13.0),
                TextColor(CAPTION),
                Node {
                    display: Display::None,
                    ..default()
                },
                MapInset,
            ));
            p.spawn((
                ImageNode::new(map.clone()),
                Node {
                    display: Display::None,
                    width: Val::Px(64.0 * MAP_SCALE),
                    height: Val::Px(64.0 * MAP_SCALE),
                    ..default()
                },
                MapInset,
            ));
            p.spawn((
                Text::new("boxes:"),
                text(13.0),
                TextColor(CAPTION),
                Node {
                    display: Display::None,
                    ..default()
                },
                EmptyBoxLegend,
            ));
            p.spawn((
                Text::new("steering distribution"),
                text(13.0),
                TextColor(CAPTION),
                PlotCaption,
            ));
            p.spawn((
                ImageNode::new(plot.clone()),
                Node {
                    width: Val::Px(PLOT_SIZE.0 as f32),
                    height: Val::Px(PLOT_SIZE.1 as f32),
                    ..default()
                },
            ));
        });
    commands.spawn((
        Text::new("REC"),
        text(22.0),
        TextColor(Color::srgb(1.0, 0.15, 0.15)),
        Node {
            position_type: PositionType::Absolute,
            bottom: Val::Px(44.0),
            left: Val::Px(16.0),
            ..default()
        },
        Visibility::Hidden,
        RecordingBadge,
    ));
    commands
        .spawn((
            Node {
                position_type: PositionType::Absolute,
                left: Val::Px(SCRUB_MARGIN),
                right: Val::Px(SCRUB_MARGIN),
                bottom: Val::Px(SCRUB_BOTTOM),
                height: Val::Px(SCRUB_HEIGHT),
                ..default()
            },
            BackgroundColor(PANEL),
            Visibility::Hidden,
            ScrubBar,
        ))
        .with_child((
            Node {
                width: Val::Percent(0.0),
                height: Val::Percent(100.0),
                ..default()
            },
            BackgroundColor(Color::srgb(0.35, 0.65, 1.0)),
            ScrubFill,
        ));
    commands.spawn((
        Text::new(keys.0),
        text(13.0),
        TextColor(Color::srgb(0.85, 0.85, 0.9)),
        Node {
            position_type: PositionType::Absolute,
            bottom: Val::Px(12.0),
            left: Val::Px(16.0),
            ..default()
        },
        BackgroundColor(PANEL),
    ));
    commands.insert_resource(HudImages { inset, map, plot });
}

/// Names the detector's classes in their box colours once the first detections arrive.
fn fill_box_legend(
    mut commands: Commands,
    current: Res<Current>,
    mut legends: Query<(Entity, &mut Node), With<EmptyBoxLegend>>,
) {
    let Some(detections) = &current.0.detections else {
        return;
    };
    for (entity, mut node) in &mut legends {
        node.display = Display::Flex;
        for (i, name) in detections.classes.iter().enumerate() {
            let [r, g, b] = BOX_COLOURS[i % BOX_COLOURS.len()];
            commands.spawn((
                TextSpan::new(format!("  {name}")),
                TextFont::from_font_size(13.0),
                TextColor(Color::srgb_u8(r, g, b)),
                ChildOf(entity),
            ));
        }
        commands.entity(entity).remove::<EmptyBoxLegend>();
    }
}

fn frame_rgba(frame: &Frame) -> Vec<u8> {
    frame
        .rgb
        .chunks_exact(3)
        .flat_map(|p| [p[0], p[1], p[2], 255])
        .collect()
}

/// The network's frame, with the detector's boxes that score high enough outlined on it.
fn draw_inset(current: Res<Current>, hud: Res<HudImages>, mut images: ResMut<Assets<Image>>) {
    let s = &current.0;
    let Some(mut image) = images.get_mut(&hud.inset) else {
        return;
    };
    let (w, h) = (s.frame.width, s.frame.height);
    if image.width() != w || image.height() != h {
        *image = rgba_image(w, h, true);
    }
    let mut rgba = frame_rgba(&s.frame);
    if let Some(d) = &s.detections {
        for (b, _) in d.boxes.iter().filter(|(b, _)| b.score >= hud::BOX_SCORE) {
            let colour = BOX_COLOURS[b.class % BOX_COLOURS.len()];
            draw_outline(&mut rgba, w as usize, 4, &b.bbox, colour);
        }
    }
    image.data = Some(rgba);
}

/// The map patch the policy reads, beside the camera inset (navigation models only).
fn draw_map(
    current: Res<Current>,
    hud: Res<HudImages>,
    mut images: ResMut<Assets<Image>>,
    mut nodes: Query<&mut Node, With<MapInset>>,
) {
    let map = &current.0.map;
    let display = if map.is_some() {
        Display::Flex
    } else {
        Display::None
    };
    for mut node in &mut nodes {
        if node.display != display {
            node.display = display;
        }
        // The image node (the caption's size is its text's): sized to the patch.
        if let Some(m) = map
            && node.width != Val::Auto
        {
            let (w, h) = (
                Val::Px(m.width as f32 * MAP_SCALE),
                Val::Px(m.height as f32 * MAP_SCALE),
            );
            if node.width != w || node.height != h {
                node.width = w;
                node.height = h;
            }
        }
    }
    let (Some(m), Some(mut image)) = (map, images.get_mut(&hud.map)) else {
        return;
    };
    if image.width() != m.width || image.height() != m.height {
        *image = rgba_image(m.width, m.height, true);
    }
    image.data = Some(frame_rgba(m));
}

/// The policy's steering distribution with the applied and the expert's curvatures, and a
/// caption giving the range it spans.
fn draw_plot(
    current: Res<Current>,
    hud: Res<HudImages>,
    mut images: ResMut<Assets<Image>>,
    mut captions: Query<&mut Text, With<PlotCaption>>,
) {
    let s = &current.0;
    let Some(mut image) = images.get_mut(&hud.plot) else {
        return;
    };
    let distribution = s.policy.as_ref().map(|p| &p.distribution);
    let chosen = s.applied.map(|a| a.curvature_per_m);
    let expert = Some(s.expert.curvature_per_m);
    let range = hud::plot_range(distribution, chosen, expert);
    image.data = Some(hud::distribution_plot(
        PLOT_SIZE,
        range,
        distribution,
        chosen,
        expert,
    ));
    for mut text in &mut captions {
        text.0 = format!(
            "steering distribution, curvature -{range} .. +{range} 1/m, left turns on the left \
             (white: applied, green: expert)"
        );
    }
}

fn write_status(
    current: Res<Current>,
    clock: Res<Clock>,
    mut status: Query<&mut Text, With<StatusText>>,
) {
    for mut text in &mut status {
        text.0 = hud::status_lines(&current.0, clock.frames_per_s()).join("\n");
    }
}

/// The progress bar, shown for a replay only.
fn show_playback(
    current: Res<Current>,
    mut bars: Query<&mut Visibility, With<ScrubBar>>,
    mut fills: Query<&mut Node, With<ScrubFill>>,
) {
    let playback = current.0.playback;
    for mut visibility in &mut bars {
        *visibility = if playback.is_some() {
            Visibility::Visible
        } else {
            Visibility::Hidden
        };
    }
    if let Some((index, count, _)) = playback {
        for mut node in &mut fills {
            node.width = Val::Percent(100.0 * (index + 1) as f32 / count.max(1) as f32);
        }
    }
}

fn show_recording(
    current: Res<Current>,
    mut badges: Query<(&mut Visibility, &mut Text), With<RecordingBadge>>,
) {
    for (mut visibility, mut text) in &mut badges {
        match &current.0.recording {
            Some((path, frames)) => {
                *visibility = Visibility::Visible;
                text.0 = format!(
                    "[REC] {frames} frames to {}",
                    path.file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
                );
            }
            None => *visibility = Visibility::Hidden,
        }
    }
}
