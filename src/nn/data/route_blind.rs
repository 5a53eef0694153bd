//! Training targets for a steering model that is not told the route (an unrouted map, or
//! none). Near a junction the route is, for such a model, a coin toss between the exits of the
//! car's lane, so its answer there is their mixture, one mode per exit (Amini et al. 2019).
//!
//! The simulation knows every exit's label and the manoeuvre it belongs to, so each manoeuvre
//! is given a mixture component of its own ([`component`]) and the loss there is the
//! complete-data log-likelihood of every exit's label under its component, with the weights
//! of a uniform choice among the exits (`MixtureBatch::route_blind_nll`); away from junctions
//! the loss is the mixture's as everywhere else. Fitted instead to one exit's label
//! drawn at random, the mixture must discover which component explains which exit; its
//! components start alike, receive alike gradients, and ended as one broad mode spanning the
//! exits.

use crate::sim::network::Turn;
use candle_core::{Result, Tensor};

/// The mixture component that carries `turn`'s label in a model of `components` components:
/// left 0, straight 1, right 2, U-turn 3, the last component taking the rest when there are
/// fewer.
pub fn component(turn: Turn, components: usize) -> usize {
    let k = match turn {
        Turn::Left => 0,
        Turn::Straight => 1,
        Turn::Right => 2,
        Turn::UTurn => 3,
    };
    k.min(components.saturating_sub(1))
}

/// Per sample, a target curvature per component and the share of the sample's loss it carries:
/// `values` and `shares` `(B, K)`; `plain (B,)` is the share scored by the whole mixture (1 for
/// a sample away from junctions, whose label any component may explain; 0 near one).
pub struct AnchoredTargets {
    pub values: Tensor,
    pub shares: Tensor,
    pub plain: Tensor,
}

impl AnchoredTargets {
    /// `exits[b]`: sample b's exits near a junction, each a manoeuvre and the curvature toward
    /// it (1/m); empty away from junctions. Exits that share a component (only with fewer than
    /// four components) are averaged.
    pub fn new(exits: &[&[(Turn, f32)]], components: usize) -> Result<Self> {
        let k = components.max(1);
        let mut values = vec![0f32; exits.len() * k];
        let mut shares = vec![0f32; exits.len() * k];
        let mut plain = vec![0f32; exits.len()];
        for (b, row) in exits.iter().enumerate() {
            if row.is_empty() {
                plain[b] = 1.0;
                continue;
            }
            let mut counts = vec![0u32; k];
            for &(turn, y) in row.iter() {
                let c = component(turn, k);
                values[b * k + c] += y;
                shares[b * k + c] += 1.0 / row.len() as f32;
                counts[c] += 1;
            }
            for (c, &n) in counts.iter().enumerate() {
                if n > 1 {
                    values[b * k + c] /= n as f32;
                }
            }
        }
        let device = crate::nn::device();
        Ok(Self {
            values: Tensor::from_vec(values, (exits.len(), k), &device)?,
            shares: Tensor::from_vec(shares, (exits.len(), k), &device)?,
            plain: Tensor::from_vec(plain, exits.len(), &device)?,
        })
    }
}
