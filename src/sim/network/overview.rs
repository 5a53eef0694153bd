//! A road network drawn from above as an RGB image: paved area, lanes and turn paths, a route,
//! and a driven path (`steerlab map`).

use crate::error::{Error, Result};
use crate::sim::Vec2;
use crate::sim::network::raster::DrivableMap;
use crate::sim::network::route::Route;
use crate::sim::network::{LaneKind, Network};

/// The largest map side drawn, pixels.
const MAX_SIDE_PX: usize = 6000;

const GROUND: [u8; 3] = [222, 230, 210];
const PAVED: [u8; 3] = [96, 96, 102];
const LANE: [u8; 3] = [165, 165, 170];
const TURN: [u8; 3] = [205, 185, 110];
const ROUTE: [u8; 3] = [40, 120, 235];
const DRIVEN: [u8; 3] = [225, 40, 40];

/// `network` at `mpp` metres per pixel, north up: ground and paved area, lanes (grey) and turn
/// paths (ochre), `route` (blue) and the `driven` path (red). Returns (width, height, RGB).
pub fn overview(
    network: &Network,
    route: &Route,
    driven: &[Vec2],
    mpp: f64,
) -> Result<(usize, usize, Vec<u8>)> {
    if !(mpp.is_finite() && mpp >= 0.05) {
        return Err(Error::InvalidArgument(format!(
            "--metres-per-pixel {mpp}: give 0.05 or more"
        )));
    }
    let map = DrivableMap::new(network, mpp);
    let (w, h) = map.size();
    if w.max(h) > MAX_SIDE_PX {
        return Err(Error::InvalidArgument(format!(
            "a {w}×{h} pixel map is too large; raise --metres-per-pixel above {mpp}"
        )));
    }
    let mut canvas = Canvas {
        rgb: vec![0; w * h * 3],
        w,
        h,
        origin: map.cell_centre(0, 0) - Vec2::new(mpp / 2.0, mpp / 2.0),
        mpp,
    };
    for y in 0..h {
        for x in 0..w {
            let colour = if map.is_paved(map.cell_centre(x, y)) {
                PAVED
            } else {
                GROUND
            };
            canvas.set(x as i64, y as i64, colour);
        }
    }
    for lane in &network.lanes {
        let colour = match lane.kind {
            LaneKind::Road { .. } => LANE,
            LaneKind::Turn { .. } => TURN,
        };
        canvas.line(lane.path.points(), colour, 0);
    }
    let route_points = route.samples(network);
    let mut closed = route_points.clone();
    closed.extend(route_points.first().copied());
    canvas.line(&closed, ROUTE, 1);
    canvas.line(driven, DRIVEN, 1);
    Ok((w, h, canvas.rgb))
}

/// An RGB image over world coordinates (north up).
struct Canvas {
    rgb: Vec<u8>,
    w: usize,
    h: usize,
    origin: Vec2,
    mpp: f64,
}

impl Canvas {
    /// Sets pixel `(x, y)` counted from the south-west corner.
    fn set(&mut self, x: i64, y: i64, colour: [u8; 3]) {
        if x < 0 || y < 0 || x as usize >= self.w || y as usize >= self.h {
            return;
        }
        let row = self.h - 1 - y as usize;
        let k = (row * self.w + x as usize) * 3;
        self.rgb[k..k + 3].copy_from_slice(&colour);
    }

    /// A polyline `radius` pixels thick.
    fn line(&mut self, points: &[Vec2], colour: [u8; 3], radius: i64) {
        for pair in points.windows(2) {
            let steps = (pair[0].distance(pair[1]) / self.mpp * 2.0).ceil().max(1.0) as usize;
            for k in 0..=steps {
                let p = pair[0].lerp(pair[1], k as f64 / steps as f64);
                let x = ((p.x - self.origin.x) / self.mpp).floor() as i64;
                let y = ((p.y - self.origin.y) / self.mpp).floor() as i64;
                for dx in -radius..=radius {
                    for dy in -radius..=radius {
                        self.set(x + dx, y + dy, colour);
                    }
                }
            }
        }
    }
}
