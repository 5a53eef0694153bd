//! `steerlab._steerlab`: the thin native layer under the `steerlab` Python package. Every
//! behaviour lives in the steerlab crate; this file converts arguments and results (frames to
//! numpy arrays without a copy, messages to JSON the Python side decodes) and turns errors
//! into Python exceptions carrying the crate's message.

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray3, PyUntypedArrayMethods};
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;
use pyo3::{Py, PyAny, create_exception};
use std::path::{Path, PathBuf};
use steerlab::drive::collect::{RecordOptions, Shard, record};
use steerlab::drive::{Choice, Policy};
use steerlab::sim::map_input::{Command, MapOptions, MapSpec};
use steerlab::sim::vehicle::Action;
use steerlab::sim::{Frame, Scenario};
use steerlab::world::{Env, EnvOptions, Observation};

create_exception!(
    _steerlab,
    SteerlabError,
    PyException,
    "An error reported by steerlab."
);

fn err(e: impl std::fmt::Display) -> PyErr {
    SteerlabError::new_err(e.to_string())
}

/// The scenario `name_or_path` names: a `.ron` file, or a built-in scenario by name.
fn scenario(name_or_path: &str) -> PyResult<Scenario> {
    let path = Path::new(name_or_path);
    if path.exists() {
        return Scenario::load(path).map_err(err);
    }
    use steerlab::sim::shipped::{BUILTIN, HELDOUT_TOWNS, TOWNS};
    let shipped = BUILTIN.iter().chain(&TOWNS).chain(&HELDOUT_TOWNS);
    let mut names = Vec::new();
    for (file, text) in shipped {
        let parsed = Scenario::from_ron(text, &format!("scenarios/{file}")).map_err(err)?;
        if parsed.name == name_or_path {
            return Ok(parsed);
        }
        names.push(parsed.name);
    }
    Err(err(format!(
        "{name_or_path}: no such scenario file, and no shipped scenario of that name (shipped: \
         {})",
        names.join(", ")
    )))
}

/// A frame as a `(H, W, 3)` uint8 array that owns the frame's buffer (no copy).
fn frame_array(py: Python<'_>, frame: Frame) -> PyResult<Py<PyAny>> {
    let (h, w) = (frame.height as usize, frame.width as usize);
    Ok(PyArray1::from_vec(py, frame.rgb)
        .reshape([h, w, 3])?
        .into_any()
        .unbind())
}

/// What one car sees and is: `(frame, class_mask, map, info_json)`; the info holds the state,
/// the expert's action, the crash and, with labels, the visible objects' boxes.
fn observation(py: Python<'_>, obs: Observation) -> PyResult<Py<PyAny>> {
    let s = &obs.state;
    let mut info = serde_json::json!({
        "tick": s.tick,
        "x_m": s.vehicle.position.x,
        "y_m": s.vehicle.position.y,
        "heading_rad": s.vehicle.heading,
        "speed_m_s": s.vehicle.speed_m_s,
        "steer_rad": s.vehicle.steer_rad,
        "s_m": s.s_m,
        "lateral_offset_m": s.lateral_offset_m,
        "heading_error_rad": s.heading_error_rad,
        "track_curvature_per_m": s.track_curvature_per_m,
        "distance_m": s.stats.distance_m,
        "off_road": obs.info.off_road,
        "crash": s.crash.map(|c| format!("{c:?}")),
        "done": obs.done,
        "expert_action": [obs.info.expert_action.curvature_per_m, obs.info.expert_action.speed_m_s],
        "expert_target_speed_m_s": obs.info.expert_target_speed_m_s,
        "wheel_speed_m_s": obs.odometry.speed_m_s,
        "route": s.route.as_ref().map(|r| serde_json::json!({
            "turn": format!("{:?}", r.turn),
            "junction": r.junction,
        })),
    });
    let mask = match obs.labels {
        Some(labels) => {
            info["boxes"] = labels
                .boxes(1)
                .iter()
                .map(|b| serde_json::json!([b.class.name(), b.x0, b.y0, b.x1, b.y1, b.pixels]))
                .collect();
            let (h, w) = (labels.height as usize, labels.width as usize);
            Some(
                PyArray1::from_vec(py, labels.class_mask())
                    .reshape([h, w])?
                    .into_any()
                    .unbind(),
            )
        }
        None => None,
    };
    let frame = obs.frame.map(|f| frame_array(py, f)).transpose()?;
    let map = obs.map.map(|m| frame_array(py, m.patch)).transpose()?;
    Ok((frame, mask, map, info.to_string())
        .into_pyobject(py)?
        .into_any()
        .unbind())
}

fn observations(py: Python<'_>, all: Vec<Observation>) -> PyResult<Py<PyList>> {
    let items = all
        .into_iter()
        .map(|o| observation(py, o))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(PyList::new(py, items)?.unbind())
}

/// Keeps glibc from handing freed memory back to the system after every tick. Rendering a
/// world frees and reallocates megabytes per tick (buffers of the renderer and of Mesa's
/// software Vulkan); in a Python process glibc's default thresholds returned them each time,
/// and every tick paid for page faults on fresh memory: about 2,600 faults and 4 ms a tick with
/// 16 cars, 30 % of the time (the `steerlab` command does not hit it). Up to 64 MB stays
/// free in each malloc arena instead, and blocks under 16 MB come from the heap.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only sets allocator parameters; it is safe to call at any time.
            unsafe {
                libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
                libc::mallopt(libc::M_MMAP_THRESHOLD, 16 << 20);
            }
        });
    }
}

/// A driving world of N cars (the native half of `steerlab.make` and `make_vec`).
#[pyclass(unsendable)]
struct World {
    env: Option<Env>,
}

impl World {
    fn env(&mut self) -> PyResult<&mut Env> {
        self.env
            .as_mut()
            .ok_or_else(|| err("this environment is closed; make a new one"))
    }
}

#[pymethods]
impl World {
    #[new]
    #[pyo3(signature = (scenario_name, agents=1, render=true, labels=false, map=false, steps=None))]
    fn new(
        scenario_name: &str,
        agents: usize,
        render: bool,
        labels: bool,
        map: bool,
        steps: Option<u32>,
    ) -> PyResult<Self> {
        if agents == 0 {
            return Err(PyValueError::new_err("num_envs must be at least 1"));
        }
        let mut scenario = scenario(scenario_name)?;
        if let Some(steps) = steps {
            scenario.episode_steps = steps;
        }
        let options = EnvOptions {
            agents,
            render,
            labels,
            map: map.then(|| MapOptions {
                spec: MapSpec::default(),
                ..MapOptions::default()
            }),
        };
        keep_freed_memory();
        let env = Env::new(scenario, options).map_err(err)?;
        Ok(World { env: Some(env) })
    }

    /// The scenario as JSON: name, camera size, road width, speed, episode length, limits.
    fn scenario_json(&mut self) -> PyResult<String> {
        let env = self.env()?;
        let s = env.scenario();
        let limit = s.vehicle.max_steer_deg.to_radians().tan() / s.vehicle.wheelbase_m;
        Ok(serde_json::json!({
            "name": s.name,
            "width": s.camera.width_px,
            "height": s.camera.height_px,
            "road_width_m": s.road.width_m,
            "speed_m_s": s.vehicle.speed_m_s,
            "episode_steps": s.episode_steps,
            "dt_s": s.dt_s,
            "max_curvature_per_m": limit,
            "track_length_m": env.track().length_m(),
            "agents": env.agent_count(),
            "seed": s.seed,
        })
        .to_string())
    }

    fn reset(&mut self, py: Python<'_>, seed: u64) -> PyResult<Py<PyList>> {
        let all = self.env()?.reset(seed).map_err(err)?;
        observations(py, all)
    }

    /// One tick: a curvature (1/m) and a speed (m/s) per car.
    fn step(
        &mut self,
        py: Python<'_>,
        curvatures: PyReadonlyArray1<'_, f64>,
        speeds: PyReadonlyArray1<'_, f64>,
    ) -> PyResult<Py<PyList>> {
        let env = self.env()?;
        let n = env.agent_count();
        let (k, v) = (curvatures.as_slice()?, speeds.as_slice()?);
        if k.len() != n || v.len() != n {
            return Err(PyValueError::new_err(format!(
                "expected {n} curvatures and {n} speeds, got {} and {}",
                k.len(),
                v.len()
            )));
        }
        if let Some(bad) = k.iter().chain(v).find(|x| !x.is_finite()) {
            return Err(PyValueError::new_err(format!(
                "actions must be finite, got {bad}"
            )));
        }
        let actions: Vec<Action> = k.iter().zip(v).map(|(&k, &v)| Action::new(k, v)).collect();
        let all = env.step_all(&actions).map_err(err)?;
        observations(py, all)
    }

    /// A new episode for car `agent` alone (a vector environment's auto-reset).
    fn respawn(&mut self, py: Python<'_>, agent: usize, seed: u64) -> PyResult<Py<PyList>> {
        let all = self.env()?.respawn(agent, seed).map_err(err)?;
        observations(py, all)
    }

    fn close(&mut self) {
        self.env = None;
    }

    #[getter]
    fn closed(&self) -> bool {
        self.env.is_none()
    }
}

/// The steps of a recorded episode, one at a time: `(frame, step_json)`.
#[pyclass(unsendable)]
struct EpisodeSteps {
    steps: steerlab::record::reader::StepIter,
    path: PathBuf,
}

#[pymethods]
impl EpisodeSteps {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let Some(step) = self.steps.next() else {
            if let Some(cut) = &self.steps.outcome().cut {
                return Err(err(format!("{}: {cut}", self.path.display())));
            }
            return Ok(None);
        };
        let frame = step.frame.map(|f| frame_array(py, f)).transpose()?;
        let map = match &step.map_png {
            Some(png) => Some(frame_array(
                py,
                Frame::from_png(png, step.tick, 0).map_err(err)?,
            )?),
            None => None,
        };
        let info = serde_json::json!({
            "tick": step.tick,
            "action": step.action.map(|a| [a.curvature_per_m, a.speed_m_s]),
            "expert_action": [step.expert_action.curvature_per_m, step.expert_action.speed_m_s],
            "expert_target_speed_m_s": step.expert_target_speed_m_s,
            "wheel_speed_m_s": step.odometry.map(|o| o.speed_m_s),
            "state": step.state,
            "driver": step.driver,
            "distribution": step.distribution,
            "speed_distribution": step.speed_distribution,
            "route": step.route,
            "frame_hash": step.frame_info.as_ref().map(|f| f.content_hash),
        });
        Ok(Some(
            (frame, map, info.to_string())
                .into_pyobject(py)?
                .into_any()
                .unbind(),
        ))
    }
}

/// Opens the episode file at `path` and returns its steps (frames decoded); with `follow`, a
/// file still being recorded is read as it grows, to its end.
#[pyfunction]
#[pyo3(signature = (path, follow=false))]
fn read_episode(path: PathBuf, follow: bool) -> PyResult<EpisodeSteps> {
    let reader = steerlab::record::EpisodeReader::open(&path).map_err(err)?;
    let steps = match follow {
        true => reader.follow(true),
        false => reader.steps(true),
    }
    .map_err(err)?;
    Ok(EpisodeSteps { steps, path })
}

/// A trained steering model (a model directory written by `steerlab train` or `dagger`).
#[pyclass(unsendable)]
struct Model {
    policy: Policy,
}

#[pymethods]
impl Model {
    #[new]
    fn new(path: PathBuf) -> PyResult<Self> {
        let policy = Policy::load(&path, Choice::Mode, 0).map_err(err)?;
        Ok(Model { policy })
    }

    /// `(height, width)` of the frames the model reads.
    #[getter]
    fn input_shape(&self) -> (usize, usize) {
        let input = self.policy.model.config.input;
        (input.height, input.width)
    }

    /// Whether it reads a map patch beside the camera.
    #[getter]
    fn reads_map(&self) -> bool {
        self.policy.model.config.map_channels() > 0
    }

    /// The steering mixture for a `(H, W, 3)` uint8 frame (and a map patch for a navnet):
    /// `[(weight, mean, std_dev), …]`, curvature in 1/m.
    #[pyo3(signature = (frame, map=None))]
    fn distribution(
        &self,
        frame: PyReadonlyArray3<'_, u8>,
        map: Option<PyReadonlyArray3<'_, u8>>,
    ) -> PyResult<Vec<(f64, f64, f64)>> {
        let to_frame = |a: &PyReadonlyArray3<'_, u8>| -> PyResult<Frame> {
            let shape = a.shape();
            if shape[2] != 3 {
                return Err(PyValueError::new_err(format!(
                    "expected an (H, W, 3) uint8 frame, got shape {shape:?}"
                )));
            }
            Ok(Frame {
                tick: 0,
                agent: 0,
                width: shape[1] as u32,
                height: shape[0] as u32,
                rgb: a.as_array().iter().copied().collect(),
            })
        };
        let frame = to_frame(&frame)?;
        let map = map.as_ref().map(to_frame).transpose()?;
        let seen = steerlab::drive::policy::PolicyInputs {
            frame: &frame,
            map: map.as_ref(),
            command: Command::Follow,
            wheel_speed_m_s: 0.0,
        };
        let d = self.policy.distribution(&seen).map_err(err)?;
        Ok(d.components()
            .iter()
            .map(|c| (c.weight, c.mean, c.std_dev))
            .collect())
    }
}

/// Records expert episodes as `steerlab record` does: this shard's share (`shard = (i, n)`) of
/// `episodes` per scenario into `out`, each episode's seed derived from `seed`, the scenario
/// and the episode number; `noise` is the expert's DART noise (1/m), correlated over
/// `noise_correlation` seconds (0: white), `speed_noise` the same on its speed (m/s),
/// `junction_noise` the factor on the curvature noise in and just before junctions. Returns
/// the summary as JSON.
#[pyfunction]
#[pyo3(signature = (scenarios, out, episodes=1, seed=0, noise=0.0, steps=None, shard=(0, 1), labels=false, map=false, noise_correlation=0.0, speed_noise=0.0, junction_noise=1.0))]
#[allow(clippy::too_many_arguments)]
fn record_expert(
    scenarios: Vec<String>,
    out: PathBuf,
    episodes: u32,
    seed: u64,
    noise: f64,
    steps: Option<u32>,
    shard: (u32, u32),
    labels: bool,
    map: bool,
    noise_correlation: f64,
    speed_noise: f64,
    junction_noise: f64,
) -> PyResult<String> {
    let max = steerlab::sim::DartNoise::JUNCTION_SCALE_MAX;
    if !(junction_noise.is_finite() && (0.0..=max).contains(&junction_noise)) {
        return Err(PyValueError::new_err(format!(
            "junction_noise {junction_noise}: a factor from 0 to {max}"
        )));
    }
    if shard.1 == 0 || shard.0 >= shard.1 {
        return Err(PyValueError::new_err(format!(
            "shard must be (i, n) with 0 <= i < n, got {shard:?}"
        )));
    }
    let mut loaded = scenarios
        .iter()
        .map(|s| scenario(s))
        .collect::<PyResult<Vec<_>>>()?;
    if let Some(steps) = steps {
        loaded.iter_mut().for_each(|s| s.episode_steps = steps);
    }
    let options = RecordOptions {
        scenarios: loaded,
        episodes,
        out,
        noise: steerlab::sim::DartNoise {
            std_per_m: noise,
            correlation_s: noise_correlation,
            speed_m_s: speed_noise,
            junction_scale: junction_noise,
        },
        seed,
        labels,
        shard: Shard {
            worker: shard.0,
            workers: shard.1,
        },
        randomise: None,
        map: map.then(|| MapOptions {
            spec: MapSpec::default(),
            ..MapOptions::default()
        }),
    };
    let summary = record(&options, &mut |_| {}).map_err(err)?;
    Ok(serde_json::to_string(&summary).map_err(err)?)
}

/// This machine as every figures file records it (processor, threads, BLAS kernels, load), as
/// JSON.
#[pyfunction]
fn machine() -> PyResult<String> {
    let here = steerlab::nn::machine::Machine::here().ended();
    Ok(serde_json::to_string(&here).map_err(err)?)
}

/// Records one DAgger episode into `path`: each tick the expert steers with probability
/// `beta`, else the model at `model`; every frame is labelled with the expert's action.
#[pyfunction]
#[pyo3(signature = (scenario_name, model, path, seed=0, episode=0, beta=0.5, steps=None))]
fn record_dagger(
    scenario_name: &str,
    model: PathBuf,
    path: PathBuf,
    seed: u64,
    episode: u32,
    beta: f64,
    steps: Option<u32>,
) -> PyResult<String> {
    use steerlab::drive::{DriveOptions, InterventionRule, Pilot, Supervision, drive};
    if !(0.0..=1.0).contains(&beta) {
        return Err(PyValueError::new_err(format!(
            "beta must be in [0, 1], got {beta}"
        )));
    }
    let mut scenario = scenario(scenario_name)?;
    if let Some(steps) = steps {
        scenario.episode_steps = steps;
    }
    let mut policy = Policy::load(&model, Choice::Mode, seed).map_err(err)?;
    let options = EnvOptions {
        map: policy.map_options(),
        ..EnvOptions::default()
    };
    let mut env = Env::new(scenario, options).map_err(err)?;
    if let Some(dir) = path.parent() {
        steerlab::files::create_dir_all(dir).map_err(err)?;
    }
    let drive_options = DriveOptions {
        distance_m: f64::INFINITY,
        max_ticks: u64::MAX,
        seed,
        supervision: Supervision::SafetyDriver(InterventionRule::default()),
        record: Some(path),
        episode,
        localise: None,
    };
    let d = drive(
        &mut env,
        &mut Pilot::Mixture {
            policy: &mut policy,
            beta,
        },
        &drive_options,
        &mut |_, _| {},
    )
    .map_err(err)?;
    Ok(serde_json::json!({
        "frames": d.frames,
        "policy_ticks": d.policy_ticks,
        "distance_m": d.metrics.distance_km * 1000.0,
        "recording": d.recording,
    })
    .to_string())
}

#[pymodule]
fn _steerlab(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("SteerlabError", m.py().get_type::<SteerlabError>())?;
    m.add_class::<World>()?;
    m.add_class::<EpisodeSteps>()?;
    m.add_class::<Model>()?;
    m.add_function(wrap_pyfunction!(read_episode, m)?)?;
    m.add_function(wrap_pyfunction!(record_expert, m)?)?;
    m.add_function(wrap_pyfunction!(record_dagger, m)?)?;
    m.add_function(wrap_pyfunction!(machine, m)?)?;
    Ok(())
}
