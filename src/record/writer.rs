//! Writing episodes: an MCAP writer, and a recorder that runs it on its own thread behind a
//! bounded channel (the simulation waits when the writer falls behind; nothing is dropped).
//!
//! Crash safety: messages go into MCAP chunks of [`CHUNK_BYTES`], each written to the file in
//! one piece as soon as it is full, so a killed recorder loses at most the chunk in progress.

use crate::error::{Error, Result};
use crate::record::schema::*;
use crate::sim::labels::{LabelClass, LabelFrame};
use crate::sim::map_input::MapObservation;
use crate::sim::odometry::OdometryReading;
use crate::sim::{DartNoise, Frame, Scenario};
use crossbeam_channel::{Receiver, Sender};
use mcap::records::{MessageHeader, Metadata};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

/// Uncompressed bytes per chunk: about 30 ticks of 200×66 frames.
pub const CHUNK_BYTES: u64 = 512 * 1024;

/// Steps the recorder may hold before the simulation waits.
pub const QUEUE_STEPS: usize = 32;

/// What an episode file says about itself.
#[derive(Clone, Debug, PartialEq)]
pub struct EpisodeMeta {
    /// The scenario, as RON text.
    pub scenario_ron: String,
    pub seed: u64,
    /// Episode number within its recording run.
    pub episode: u32,
    /// DART noise of the expert's drive (none when another driver drove).
    pub noise: DartNoise,
}

impl EpisodeMeta {
    pub fn new(scenario: &Scenario, seed: u64, episode: u32, noise: DartNoise) -> Result<Self> {
        let scenario_ron = ron::ser::to_string_pretty(scenario, ron::ser::PrettyConfig::default())
            .map_err(|e| {
                Error::InvalidArgument(format!("cannot serialise scenario {}: {e}", scenario.name))
            })?;
        Ok(Self {
            scenario_ron,
            seed,
            episode,
            noise,
        })
    }

    fn to_map(&self, scenario: &Scenario) -> BTreeMap<String, String> {
        let c = &scenario.camera;
        BTreeMap::from([
            ("schema_version".into(), SCHEMA_VERSION.into()),
            ("crate_version".into(), env!("CARGO_PKG_VERSION").into()),
            ("scenario_name".into(), scenario.name.clone()),
            ("scenario".into(), self.scenario_ron.clone()),
            ("seed".into(), self.seed.to_string()),
            ("episode".into(), self.episode.to_string()),
            ("dt_s".into(), scenario.dt_s.to_string()),
            ("noise_std_per_m".into(), self.noise.std_per_m.to_string()),
            (
                "noise_correlation_s".into(),
                self.noise.correlation_s.to_string(),
            ),
            ("speed_noise_m_s".into(), self.noise.speed_m_s.to_string()),
            (
                "junction_noise_scale".into(),
                self.noise.junction_scale.to_string(),
            ),
            (
                "camera".into(),
                format!(
                    "{}x{} hfov {} deg, height {} m, forward {} m, pitch {} deg, yaw {} deg",
                    c.width_px,
                    c.height_px,
                    c.horizontal_fov_deg,
                    c.mount_height_m,
                    c.mount_forward_m,
                    c.pitch_deg,
                    c.yaw_deg
                ),
            ),
        ])
    }
}

/// Everything recorded about one tick.
#[derive(Clone, Debug)]
pub struct StepRecord {
    pub tick: u64,
    /// The camera frame showing `state`.
    pub frame: Option<Frame>,
    pub state: StateMsg,
    /// The action applied from this tick to the next (absent at the last tick).
    pub action: Option<ActionMsg>,
    /// The expert's label for this state.
    pub expert_action: ActionMsg,
    pub driver: DriverMsg,
    pub distribution: Option<DistributionMsg>,
    /// The policy's mixture over target speed, when it set the speed.
    pub speed_distribution: Option<DistributionMsg>,
    /// The label frame of the camera frame (class mask and object boxes), when rendered.
    pub labels: Option<LabelFrame>,
    /// The car's place on its route, in a town.
    pub route: Option<RouteMsg>,
    /// The traffic cars, in a town with traffic.
    pub traffic: Option<TrafficMsg>,
    /// The map patch and the pose it was cut at, when the world cuts them.
    pub map: Option<MapObservation>,
    /// What the car's odometry measured over the tick before.
    pub odometry: Option<OdometryReading>,
}

/// Objects with fewer visible pixels than this get no box.
pub const MIN_OBJECT_PIXELS: u32 = 4;

/// Writes one episode file.
pub struct EpisodeWriter {
    path: PathBuf,
    writer: mcap::Writer<File>,
    channels: BTreeMap<&'static str, u16>,
    sequence: u32,
    dt_ns: u64,
    frames: u64,
}

/// The error of writing `path`, with its causes (the MCAP writer's "I/O error" says why only
/// in its source: "No space left on device").
fn mcap_err(path: &Path, e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
    let e = e.into();
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    Error::Output {
        path: path.to_path_buf(),
        message,
    }
}

/// Creates (or empties) `path` holding an exclusive lock on it for as long as the file is
/// open: a second writer of the same file (two `record` runs into one folder with the same
/// scenarios) is refused before it touches a byte, and a reader can tell a file still being
/// written ([`crate::record::being_written`]).
fn create_locked(path: &Path) -> Result<File> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| mcap_err(path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(mcap_err(
                path,
                "another process is recording this episode; runs that share a folder must \
                 record different episodes (give each its own --shard I/N, or its own --out)",
            ));
        }
        // A file system without locks (some network and FUSE mounts) records unguarded.
        Err(std::fs::TryLockError::Error(_)) => {}
    }
    file.set_len(0).map_err(|e| mcap_err(path, e))?;
    Ok(file)
}

impl EpisodeWriter {
    /// Creates `path` and writes the episode's metadata.
    pub fn create(path: &Path, scenario: &Scenario, meta: &EpisodeMeta) -> Result<Self> {
        let file = create_locked(path)?;
        let options = mcap::WriteOptions::new()
            .compression(Some(mcap::Compression::Lz4))
            .chunk_size(Some(CHUNK_BYTES))
            .profile("steerlab")
            .library(format!("steerlab {}", env!("CARGO_PKG_VERSION")));
        let mut writer = options.create(file).map_err(|e| mcap_err(path, e))?;
        let mut channels = BTreeMap::new();
        let image_schema = writer
            .add_schema(
                COMPRESSED_IMAGE_NAME,
                "ros2msg",
                COMPRESSED_IMAGE_DEFINITION.as_bytes(),
            )
            .map_err(|e| mcap_err(path, e))?;
        for topic in [TOPIC_IMAGE, TOPIC_CLASS_MASK, TOPIC_MAP_IMAGE] {
            let id = writer
                .add_channel(image_schema, topic, "cdr", &BTreeMap::new())
                .map_err(|e| mcap_err(path, e))?;
            channels.insert(topic, id);
        }
        for topic in [
            TOPIC_OBJECTS,
            TOPIC_FRAME_INFO,
            TOPIC_ACTION,
            TOPIC_EXPERT_ACTION,
            TOPIC_STATE,
            TOPIC_DRIVER,
            TOPIC_DISTRIBUTION,
            TOPIC_SPEED_DISTRIBUTION,
            TOPIC_ROUTE,
            TOPIC_TRAFFIC,
            TOPIC_MAP_POSE,
            TOPIC_ODOMETRY,
        ] {
            let (name, schema) = json_schema(topic).expect("every JSON topic has a schema");
            let schema_id = writer
                .add_schema(name, "jsonschema", schema.as_bytes())
                .map_err(|e| mcap_err(path, e))?;
            let id = writer
                .add_channel(schema_id, topic, "json", &BTreeMap::new())
                .map_err(|e| mcap_err(path, e))?;
            channels.insert(topic, id);
        }
        writer
            .write_metadata(&Metadata {
                name: METADATA_NAME.into(),
                metadata: meta.to_map(scenario),
            })
            .map_err(|e| mcap_err(path, e))?;
        let dt_ns = (scenario.dt_s * 1e9).round() as u64;
        Ok(Self {
            path: path.to_path_buf(),
            writer,
            channels,
            sequence: 0,
            dt_ns,
            frames: 0,
        })
    }

    fn put(&mut self, topic: &'static str, tick: u64, data: &[u8]) -> Result<()> {
        let time = tick * self.dt_ns;
        self.sequence += 1;
        let header = MessageHeader {
            channel_id: self.channels[topic],
            sequence: self.sequence,
            log_time: time,
            publish_time: time,
        };
        self.writer
            .write_to_known_channel(&header, data)
            .map_err(|e| mcap_err(&self.path, e))
    }

    fn put_json<T: serde::Serialize>(
        &mut self,
        topic: &'static str,
        tick: u64,
        value: &T,
    ) -> Result<()> {
        let json = serde_json::to_vec(value).map_err(|e| mcap_err(&self.path, e))?;
        self.put(topic, tick, &json)
    }

    /// Appends one tick. The frame is PNG-encoded here.
    pub fn write_step(&mut self, step: &StepRecord) -> Result<()> {
        let tick = step.tick;
        if let Some(frame) = &step.frame {
            let png = frame.to_png()?;
            self.put(
                TOPIC_IMAGE,
                tick,
                &encode_compressed_image(tick * self.dt_ns, &png),
            )?;
            let info = FrameInfoMsg {
                tick,
                width: frame.width,
                height: frame.height,
                content_hash: frame.content_hash(),
            };
            self.put_json(TOPIC_FRAME_INFO, tick, &info)?;
            self.frames += 1;
        }
        if let Some(action) = &step.action {
            self.put_json(TOPIC_ACTION, tick, action)?;
        }
        self.put_json(TOPIC_EXPERT_ACTION, tick, &step.expert_action)?;
        if let Some(d) = &step.distribution {
            self.put_json(TOPIC_DISTRIBUTION, tick, d)?;
        }
        if let Some(d) = &step.speed_distribution {
            self.put_json(TOPIC_SPEED_DISTRIBUTION, tick, d)?;
        }
        if let Some(labels) = &step.labels {
            let mask = labels.class_mask();
            let png = crate::sim::frame::gray_png(labels.width, labels.height, &mask)?;
            self.put(
                TOPIC_CLASS_MASK,
                tick,
                &encode_compressed_image(tick * self.dt_ns, &png),
            )?;
            let objects = ObjectsMsg {
                tick,
                width: labels.width,
                height: labels.height,
                classes: LabelClass::all().iter().map(|c| c.name()).collect(),
                objects: labels
                    .boxes(MIN_OBJECT_PIXELS)
                    .iter()
                    .map(|b| ObjectMsg {
                        id: b.id,
                        class: b.class.name(),
                        x0: b.x0,
                        y0: b.y0,
                        x1: b.x1,
                        y1: b.y1,
                        pixels: b.pixels,
                    })
                    .collect(),
            };
            self.put_json(TOPIC_OBJECTS, tick, &objects)?;
        }
        self.put_json(TOPIC_DRIVER, tick, &step.driver)?;
        if let Some(route) = &step.route {
            self.put_json(TOPIC_ROUTE, tick, route)?;
        }
        if let Some(traffic) = &step.traffic {
            self.put_json(TOPIC_TRAFFIC, tick, traffic)?;
        }
        if let Some(map) = &step.map {
            let png = map.patch.to_png()?;
            self.put(
                TOPIC_MAP_IMAGE,
                tick,
                &encode_compressed_image(tick * self.dt_ns, &png),
            )?;
            let pose = MapPoseMsg {
                tick,
                x_m: map.position.x,
                y_m: map.position.y,
                heading_rad: map.heading,
                progress_m: Some(map.progress_m),
                command: Some(map.command),
                fix_available: Some(map.fix_available),
            };
            self.put_json(TOPIC_MAP_POSE, tick, &pose)?;
        }
        if let Some(reading) = &step.odometry {
            self.put_json(TOPIC_ODOMETRY, tick, &OdometryMsg::new(tick, reading))?;
        }
        // The state closes a tick: a reader treats a tick as complete once it has its state.
        self.put_json(TOPIC_STATE, tick, &step.state)
    }

    /// Writes the summary and index and closes the file; returns the frames written.
    pub fn finish(mut self) -> Result<u64> {
        self.writer.finish().map_err(|e| mcap_err(&self.path, e))?;
        Ok(self.frames)
    }
}

/// An [`EpisodeWriter`] on its own thread.
pub struct Recorder {
    sender: Option<Sender<StepRecord>>,
    thread: Option<JoinHandle<Result<u64>>>,
    path: PathBuf,
}

impl Recorder {
    /// Starts writing `path` on a new thread.
    pub fn start(path: &Path, scenario: &Scenario, meta: &EpisodeMeta) -> Result<Self> {
        let (sender, receiver): (Sender<StepRecord>, Receiver<StepRecord>) =
            crossbeam_channel::bounded(QUEUE_STEPS);
        let (opened_tx, opened_rx) = crossbeam_channel::bounded::<Result<()>>(1);
        let (thread_path, scenario, meta) = (path.to_path_buf(), scenario.clone(), meta.clone());
        // The writer is created on its own thread: it never crosses threads.
        let thread = std::thread::Builder::new()
            .name("steerlab-recorder".into())
            .spawn(move || {
                let mut writer = match EpisodeWriter::create(&thread_path, &scenario, &meta) {
                    Ok(w) => {
                        let _ = opened_tx.send(Ok(()));
                        w
                    }
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                        return Ok(0);
                    }
                };
                for step in receiver {
                    writer.write_step(&step)?;
                }
                writer.finish()
            })
            .map_err(|e| mcap_err(path, e))?;
        match opened_rx.recv() {
            Ok(Ok(())) => Ok(Self {
                sender: Some(sender),
                thread: Some(thread),
                path: path.to_path_buf(),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(mcap_err(
                path,
                "the episode writer stopped while opening the file",
            )),
        }
    }

    /// Queues a tick; blocks while the writer is [`QUEUE_STEPS`] behind. Fails with the
    /// writer's own error if it stopped.
    pub fn record(&mut self, step: StepRecord) -> Result<()> {
        let Some(sender) = self.sender.as_ref() else {
            return Err(mcap_err(&self.path, "the recorder is finished"));
        };
        if sender.send(step).is_ok() {
            return Ok(());
        }
        self.sender = None;
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(Err(e))) => Err(e),
            _ => Err(mcap_err(&self.path, "the episode writer stopped")),
        }
    }

    /// Waits for every queued tick to be written and closes the file; returns frames written.
    pub fn finish(mut self) -> Result<u64> {
        self.sender.take();
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(mcap_err(&self.path, "the episode writer panicked")),
            None => Ok(0),
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.sender.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
