//! Reading episodes: a streaming iterator over recorded ticks whose memory is bounded by one
//! chunk, and which never panics on a damaged file. A truncated or corrupted file yields every
//! tick of its intact chunks (each chunk's CRC is checked before any of its messages is used)
//! and then stops; [`StepIter::outcome`] says what was cut.

use crate::error::{Error, Result};
use crate::record::bounds::parse_record;
use crate::record::follow::Follower;
use crate::record::schema::*;
use crate::record::writer::EpisodeMeta;
use crate::sim::vehicle::Action;
use crate::sim::{DartNoise, Frame, Scenario};
use mcap::records::Record;
use mcap::sans_io::{LinearReadEvent, LinearReader, LinearReaderOptions};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// Largest record accepted, bytes: a corrupted length field cannot make the reader allocate more.
pub(super) const RECORD_LIMIT: usize = 256 << 20;

/// Whether a writer (a `record` run, say) still holds the episode at `path`.
pub fn being_written(path: &Path) -> bool {
    File::open(path)
        .is_ok_and(|f| matches!(f.try_lock_shared(), Err(std::fs::TryLockError::WouldBlock)))
}

/// One recorded tick.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub tick: u64,
    /// The decoded camera frame (when frames were recorded and decoding was asked for).
    pub frame: Option<Frame>,
    /// The frame as recorded, PNG-encoded (when frames were recorded).
    pub png: Option<Vec<u8>>,
    /// The recorded content hash of the frame.
    pub frame_info: Option<FrameInfoMsg>,
    /// The action applied from this tick to the next (absent at the last tick).
    pub action: Option<Action>,
    pub expert_action: Action,
    /// The expert's target speed (a speed policy's label), when recorded; else its speed.
    pub expert_target_speed_m_s: f64,
    pub state: StateMsg,
    pub driver: String,
    /// The fingerprint of the model that drove this tick, when a policy did
    /// ([`crate::nn::Model::fingerprint`]).
    pub driver_model: Option<String>,
    pub distribution: Option<DistributionMsg>,
    /// The policy's mixture over target speed (m/s), when it set the speed.
    pub speed_distribution: Option<DistributionMsg>,
    /// Visible objects of the frame, when labels were recorded.
    pub objects: Option<ObjectsMsg>,
    /// The car's place on its route, in a town.
    pub route: Option<RouteMsg>,
    /// The traffic cars, in a town with traffic.
    pub traffic: Option<TrafficMsg>,
    /// The class mask of the frame as a grayscale PNG (values index `objects.classes`).
    pub class_mask_png: Option<Vec<u8>>,
    /// The map patch as an RGB PNG (red paved, green the route ahead), when recorded.
    pub map_png: Option<Vec<u8>>,
    /// The believed pose the map patch was cut at.
    pub map_pose: Option<MapPoseMsg>,
    /// What the car's odometry measured over the tick before (its wheel speed among it).
    pub odometry: Option<OdometryMsg>,
}

/// How reading ended.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReadOutcome {
    /// The file ended with its summary and footer (the writer finished).
    pub complete: bool,
    /// Why reading stopped early, with the byte offset reached.
    pub cut: Option<String>,
    /// Ticks begun but missing their closing state message (dropped).
    pub incomplete_ticks: u64,
    pub steps: u64,
    pub frames: u64,
}

/// An episode file.
#[derive(Clone, Debug)]
pub struct EpisodeReader {
    pub path: PathBuf,
    pub meta: EpisodeMeta,
    pub scenario: Scenario,
}

pub(super) fn read_err(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::Episode {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

impl EpisodeReader {
    /// Opens `path` and reads its metadata (the first records of the file).
    pub fn open(path: &Path) -> Result<EpisodeReader> {
        let mut iter = StepIter::open(path, false)?;
        while iter.meta.is_none() && !iter.finished {
            iter.advance_record();
        }
        let Some(map) = iter.meta.take() else {
            let why = iter
                .outcome()
                .cut
                .clone()
                .unwrap_or_else(|| "no episode metadata".into());
            return Err(read_err(path, format!("not a steerlab episode: {why}")));
        };
        let get = |k: &str| {
            map.get(k)
                .cloned()
                .ok_or_else(|| read_err(path, format!("metadata lacks `{k}`")))
        };
        let version = get("schema_version")?;
        if version.split('.').next() != SCHEMA_VERSION.split('.').next() {
            return Err(read_err(
                path,
                format!("schema version {version}; this build reads {SCHEMA_VERSION}"),
            ));
        }
        let scenario_ron = get("scenario")?;
        let scenario = Scenario::from_ron(
            &scenario_ron,
            &format!("{} (embedded scenario)", path.display()),
        )?;
        let parse = |k: &str| -> Result<f64> {
            get(k)?
                .parse()
                .map_err(|e| read_err(path, format!("metadata `{k}`: {e}")))
        };
        let optional = |k: &str, absent: f64| -> Result<f64> {
            match map.get(k) {
                Some(_) => parse(k),
                None => Ok(absent),
            }
        };
        let meta = EpisodeMeta {
            scenario_ron,
            seed: get("seed")?
                .parse()
                .map_err(|e| read_err(path, format!("metadata `seed`: {e}")))?,
            episode: parse("episode")? as u32,
            noise: DartNoise {
                std_per_m: parse("noise_std_per_m")?,
                // Files written before the noise could be correlated had white noise, the same
                // everywhere, and none on the speed.
                correlation_s: optional("noise_correlation_s", 0.0)?,
                speed_m_s: optional("speed_noise_m_s", 0.0)?,
                junction_scale: optional("junction_noise_scale", 1.0)?,
            },
        };
        Ok(EpisodeReader {
            path: path.to_path_buf(),
            meta,
            scenario,
        })
    }

    /// Streams the ticks from the start; frames are decoded when `decode_frames` is set.
    pub fn steps(&self, decode_frames: bool) -> Result<StepIter> {
        StepIter::open(&self.path, decode_frames)
    }

    /// Like [`steps`](Self::steps) for a file still being recorded: at the end of what is
    /// written so far it waits for more while the writer holds the file, and ends when the
    /// writer has closed it (or died). Ticks arrive as the writer completes chunks, only whole.
    pub fn follow(&self, decode_frames: bool) -> Result<StepIter> {
        let mut steps = StepIter::open(&self.path, decode_frames)?;
        steps.follow = Some(Follower::new(&self.path));
        Ok(steps)
    }
}

#[derive(Default)]
struct Partial {
    tick: u64,
    frame: Option<Frame>,
    png: Option<Vec<u8>>,
    frame_info: Option<FrameInfoMsg>,
    action: Option<Action>,
    expert_action: Option<ActionMsg>,
    driver: Option<DriverMsg>,
    distribution: Option<DistributionMsg>,
    speed_distribution: Option<DistributionMsg>,
    objects: Option<ObjectsMsg>,
    class_mask_png: Option<Vec<u8>>,
    route: Option<RouteMsg>,
    traffic: Option<TrafficMsg>,
    map_png: Option<Vec<u8>>,
    map_pose: Option<MapPoseMsg>,
    odometry: Option<OdometryMsg>,
    started: bool,
}

/// Gathers the messages of a tick into a [`Step`]; the state message closes a tick.
pub(super) struct Assembler {
    decode_frames: bool,
    partial: Partial,
    pub(super) ready: Option<Step>,
    outcome: ReadOutcome,
}

/// Streaming iterator over the ticks of an episode file.
pub struct StepIter {
    file: BufReader<File>,
    reader: LinearReader,
    topics: HashMap<u16, String>,
    assembler: Assembler,
    meta: Option<std::collections::BTreeMap<String, String>>,
    bytes: u64,
    finished: bool,
    /// Following a file being written: at its end, wait for more while a writer holds it.
    follow: Option<Follower>,
}

impl StepIter {
    fn open(path: &Path, decode_frames: bool) -> Result<StepIter> {
        let file = File::open(path).map_err(|e| read_err(path, e))?;
        let options = LinearReaderOptions::default()
            .with_prevalidate_chunk_crcs(true)
            .with_record_length_limit(RECORD_LIMIT);
        Ok(StepIter {
            file: BufReader::with_capacity(1 << 20, file),
            reader: LinearReader::new_with_options(options),
            topics: HashMap::new(),
            assembler: Assembler::new(decode_frames),
            meta: None,
            bytes: 0,
            finished: false,
            follow: None,
        })
    }

    /// How reading went so far (final once the iterator returned `None`).
    pub fn outcome(&self) -> &ReadOutcome {
        &self.assembler.outcome
    }

    fn stop(&mut self, why: Option<String>) {
        self.finished = true;
        self.assembler.drop_partial();
        if let Some(why) = why {
            // A file cut after its footer record (in the closing magic) is not complete either.
            self.assembler.outcome.complete = false;
            self.assembler.outcome.cut = Some(format!("{why} (after {} bytes)", self.bytes));
        }
    }

    /// Processes one event of the underlying reader.
    fn advance_record(&mut self) {
        let event = match self.reader.next_event() {
            None => {
                let why = (!self.assembler.outcome.complete)
                    .then(|| "the file ends without its footer".to_string());
                return self.stop(why);
            }
            Some(Err(e)) => return self.stop(Some(e.to_string())),
            Some(Ok(LinearReadEvent::ReadRequest(n))) => Err(n),
            Some(Ok(LinearReadEvent::Record { data, opcode })) => {
                Ok(match parse_record(opcode, data) {
                    Ok(record) => Some(into_owned(record)),
                    Err(e) => return self.stop(Some(format!("bad record: {e}"))),
                })
            }
        };
        match event {
            Err(n) => {
                let buf = self.reader.insert(n);
                let read = match self.follow.as_mut() {
                    Some(follower) => follower.read(self.file.get_ref(), self.bytes, buf),
                    None => self.file.read(buf),
                };
                match read {
                    Ok(read) => {
                        self.bytes += read as u64;
                        self.reader.notify_read(read);
                    }
                    Err(e) => {
                        self.reader.notify_read(0);
                        self.stop(Some(format!("read error: {e}")));
                    }
                }
            }
            Ok(Some(record)) => self.handle(record),
            Ok(None) => {}
        }
    }

    fn handle(&mut self, record: Owned) {
        match record {
            Owned::Channel { id, topic } => {
                self.topics.insert(id, topic);
            }
            Owned::Metadata { name, map } if name == METADATA_NAME => self.meta = Some(map),
            Owned::Footer => self.assembler.outcome.complete = true,
            Owned::Message { channel, data } => {
                let Some(topic) = self.topics.get(&channel).cloned() else {
                    return self.stop(Some(format!("message on unknown channel {channel}")));
                };
                if let Err(why) = self.assembler.message(&topic, &data) {
                    self.stop(Some(format!("{topic}: {why}")));
                }
            }
            _ => {}
        }
    }
}

impl Assembler {
    pub(super) fn new(decode_frames: bool) -> Self {
        Self {
            decode_frames,
            partial: Partial::default(),
            ready: None,
            outcome: ReadOutcome::default(),
        }
    }

    fn drop_partial(&mut self) {
        if self.partial.started {
            self.outcome.incomplete_ticks += 1;
            self.partial = Partial::default();
        }
    }

    fn begin(&mut self, tick: u64) {
        if self.partial.started && self.partial.tick != tick {
            self.outcome.incomplete_ticks += 1;
            self.partial = Partial::default();
        }
        self.partial.started = true;
        self.partial.tick = tick;
    }

    pub(super) fn message(&mut self, topic: &str, data: &[u8]) -> std::result::Result<(), String> {
        fn json<T: serde::de::DeserializeOwned>(data: &[u8]) -> std::result::Result<T, String> {
            serde_json::from_slice(data).map_err(|e| e.to_string())
        }
        match topic {
            TOPIC_IMAGE => {
                let (png, format) =
                    decode_compressed_image(data).ok_or("malformed CompressedImage")?;
                if format != "png" {
                    return Err(format!("unsupported image format {format}"));
                }
                self.partial.png = Some(png.to_vec());
                if self.decode_frames {
                    // The tick is known from the info message that follows; stamp it then.
                    self.partial.frame =
                        Some(Frame::from_png(png, 0, 0).map_err(|e| e.to_string())?);
                }
            }
            TOPIC_FRAME_INFO => {
                let info: FrameInfoMsg = json(data)?;
                self.begin(info.tick);
                if let Some(f) = self.partial.frame.as_mut() {
                    f.tick = info.tick;
                    if f.content_hash() != info.content_hash {
                        return Err(format!(
                            "frame of tick {} does not match its recorded hash",
                            info.tick
                        ));
                    }
                }
                self.partial.frame_info = Some(info);
            }
            TOPIC_ACTION => {
                let a: ActionMsg = json(data)?;
                self.begin(a.tick);
                self.partial.action = Some(a.action());
            }
            TOPIC_EXPERT_ACTION => {
                let a: ActionMsg = json(data)?;
                self.begin(a.tick);
                self.partial.expert_action = Some(a);
            }
            TOPIC_DRIVER => {
                let d: DriverMsg = json(data)?;
                self.begin(d.tick);
                self.partial.driver = Some(d);
            }
            TOPIC_DISTRIBUTION => {
                let d: DistributionMsg = json(data)?;
                self.begin(d.tick);
                self.partial.distribution = Some(d);
            }
            TOPIC_SPEED_DISTRIBUTION => {
                let d: DistributionMsg = json(data)?;
                self.begin(d.tick);
                self.partial.speed_distribution = Some(d);
            }
            TOPIC_CLASS_MASK => {
                let (png, _) = decode_compressed_image(data).ok_or("malformed CompressedImage")?;
                self.partial.class_mask_png = Some(png.to_vec());
            }
            TOPIC_MAP_IMAGE => {
                let (png, _) = decode_compressed_image(data).ok_or("malformed CompressedImage")?;
                self.partial.map_png = Some(png.to_vec());
            }
            TOPIC_MAP_POSE => {
                let pose: MapPoseMsg = json(data)?;
                self.begin(pose.tick);
                self.partial.map_pose = Some(pose);
            }
            TOPIC_ODOMETRY => {
                let o: OdometryMsg = json(data)?;
                self.begin(o.tick);
                self.partial.odometry = Some(o);
            }
            TOPIC_TRAFFIC => {
                let t: TrafficMsg = json(data)?;
                self.begin(t.tick);
                self.partial.traffic = Some(t);
            }
            TOPIC_ROUTE => {
                let r: RouteMsg = json(data)?;
                self.begin(r.tick);
                self.partial.route = Some(r);
            }
            TOPIC_OBJECTS => {
                let o: ObjectsMsg = json(data)?;
                self.begin(o.tick);
                self.partial.objects = Some(o);
            }
            TOPIC_STATE => {
                let state: StateMsg = json(data)?;
                self.begin(state.tick);
                let p = std::mem::take(&mut self.partial);
                let (Some(expert_action), Some(driver)) = (p.expert_action, p.driver) else {
                    self.outcome.incomplete_ticks += 1;
                    return Ok(());
                };
                if p.frame_info.is_some() {
                    self.outcome.frames += 1;
                }
                self.outcome.steps += 1;
                self.ready = Some(Step {
                    tick: state.tick,
                    frame: p.frame,
                    png: p.png,
                    frame_info: p.frame_info,
                    action: p.action,
                    expert_action: expert_action.action(),
                    expert_target_speed_m_s: expert_action
                        .target_speed_m_s
                        .unwrap_or(expert_action.speed_m_s),
                    state,
                    driver: driver.driver,
                    driver_model: driver.model,
                    distribution: p.distribution,
                    speed_distribution: p.speed_distribution,
                    route: p.route,
                    traffic: p.traffic,
                    objects: p.objects,
                    class_mask_png: p.class_mask_png,
                    map_png: p.map_png,
                    map_pose: p.map_pose,
                    odometry: p.odometry,
                });
            }
            _ => {}
        }
        Ok(())
    }
}

impl Iterator for StepIter {
    type Item = Step;

    fn next(&mut self) -> Option<Step> {
        while self.assembler.ready.is_none() && !self.finished {
            self.advance_record();
        }
        self.assembler.ready.take()
    }
}

/// The records the reader uses, detached from the reader's buffer.
enum Owned {
    Channel {
        id: u16,
        topic: String,
    },
    Metadata {
        name: String,
        map: std::collections::BTreeMap<String, String>,
    },
    Message {
        channel: u16,
        data: Vec<u8>,
    },
    Footer,
    Other,
}

fn into_owned(record: Record<'_>) -> Owned {
    match record {
        Record::Channel(c) => Owned::Channel {
            id: c.id,
            topic: c.topic,
        },
        Record::Metadata(m) => Owned::Metadata {
            name: m.name,
            map: m.metadata,
        },
        Record::Message { header, data } => Owned::Message {
            channel: header.channel_id,
            data: data.into_owned(),
        },
        Record::Footer(_) => Owned::Footer,
        _ => Owned::Other,
    }
}
