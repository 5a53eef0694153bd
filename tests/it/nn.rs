//! The CNN: preset shapes, exact gradients of our convolution, pooling and mixture loss
//! (checked against central finite differences in f64), checkpoints, and training from
//! recorded episodes (it learns, and resuming reproduces an uninterrupted run).

use candle_core::{DType, Device, Tensor, Var};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use steerlab::nn::ModelDir;
use steerlab::nn::data::dataset::{Dataset, Sample};
use steerlab::nn::models::checkpoint::{CONFIG_FILE, WEIGHTS_FILE};
use steerlab::nn::models::steering::MixtureBatch;
use steerlab::nn::models::steering::config::{ModelConfig, SteeringHeadConfig};
use steerlab::nn::ops::{
    Conv2dSpec, Roi, conv_transpose2d, conv2d, conv2d_of_affine, linear, max_pool2d, roi_align,
};
use steerlab::nn::train::steering::{Quiet, TrainObserver, TrainOptions, train};
use steerlab::nn::{Model, SteeringDistribution};

fn seeded(shape: &[usize], seed: u64) -> Tensor {
    // A fixed pseudo-random pattern (LCG), so the checks do not depend on an RNG crate.
    let n: usize = shape.iter().product();
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let v: Vec<f64> = (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

/// Largest absolute element of `t`, in f64 whatever its dtype.
/// The bit patterns of a tensor's values: equal vectors mean equal lengths and values.
fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

fn max_abs(t: &Tensor) -> f64 {
    t.abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

/// Largest absolute difference between `a` and `b`.
fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    max_abs(&(a - b).unwrap())
}

/// Largest relative error (absolute below 1e-4) between the analytic gradient of `loss(inputs)` with respect to
/// each input and central differences (step 1e-6, f64), over every element.
fn gradient_error(inputs: &[Tensor], loss: &dyn Fn(&[Tensor]) -> Tensor) -> f64 {
    let vars: Vec<Var> = inputs
        .iter()
        .map(|t| Var::from_tensor(t).unwrap())
        .collect();
    let tensors: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let grads = loss(&tensors).backward().unwrap();
    let mut worst: f64 = 0.0;
    for (i, var) in vars.iter().enumerate() {
        let analytic = grads
            .get(var.as_tensor())
            .expect("a gradient")
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let base = inputs[i].flatten_all().unwrap().to_vec1::<f64>().unwrap();
        for (j, a) in analytic.iter().enumerate() {
            let eval = |delta: f64| {
                let mut v = base.clone();
                v[j] += delta;
                let mut moved = inputs.to_vec();
                moved[i] = Tensor::from_vec(v, inputs[i].shape(), &Device::Cpu).unwrap();
                loss(&moved).to_scalar::<f64>().unwrap()
            };
            let h = 1e-6;
            let numeric = (eval(h) - eval(-h)) / (2.0 * h);
            worst = worst.max((a - numeric).abs() / (1e-4 + a.abs().max(numeric.abs())));
        }
    }
    worst
}

#[test]
fn convolution_gradients_match_finite_differences_for_every_stride_padding_and_size() {
    // Includes the case candle's own backward fails on ((H−k) mod s ≠ (W−k) mod s: 7×8, k3, s2).
    for (b, c, h, w, o, k, stride, padding) in [
        (2, 2, 7, 8, 3, 3, 2, 0),
        (1, 3, 9, 14, 2, 5, 2, 0),
        (2, 1, 6, 5, 2, 3, 1, 1),
        (1, 2, 5, 7, 2, 2, 3, 2),
        (3, 2, 4, 4, 2, 3, 1, 0),
        // Odd widths with stride 2 (the deinterleaving fast path), with and without padding.
        (2, 1, 5, 7, 2, 3, 2, 0),
        (1, 2, 7, 9, 2, 3, 2, 2),
    ] {
        let spec = Conv2dSpec { stride, padding };
        let x = seeded(&[b, c, h, w], 1);
        let weight = seeded(&[o, c, k, k], 2);
        let bias = seeded(&[o], 3);
        let probe = seeded(
            &conv2d(&x, &weight, &bias, spec, false)
                .unwrap()
                .dims()
                .to_vec(),
            4,
        );
        for relu in [false, true] {
            let loss = |t: &[Tensor]| {
                (conv2d(&t[0], &t[1], &t[2], spec, relu).unwrap() * &probe)
                    .unwrap()
                    .sum_all()
                    .unwrap()
            };
            let err = gradient_error(&[x.clone(), weight.clone(), bias.clone()], &loss);
            assert!(
                err < 1e-5,
                "{b}x{c}x{h}x{w} k{k} s{stride} p{padding} relu {relu}: relative error {err}"
            );
        }
    }
}

#[test]
fn convolution_matches_candle_where_candle_is_right() {
    // Batch 1 takes the inference path (output rows split over threads).
    for (n, h, w, k, stride, padding) in [
        (2, 66, 200, 5, 2, 0),
        (1, 66, 200, 5, 2, 0),
        (2, 14, 47, 3, 1, 0),
        (1, 9, 9, 3, 1, 1),
        (2, 31, 98, 5, 2, 0),
    ] {
        let x = seeded(&[n, 3, h, w], 5).to_dtype(DType::F32).unwrap();
        let weight = seeded(&[4, 3, k, k], 6).to_dtype(DType::F32).unwrap();
        let bias = seeded(&[4], 7).to_dtype(DType::F32).unwrap();
        let ours = conv2d(&x, &weight, &bias, Conv2dSpec { stride, padding }, true).unwrap();
        let theirs = x
            .conv2d(&weight, padding, stride, 1, 1)
            .unwrap()
            .broadcast_add(&bias.reshape((1, 4, 1, 1)).unwrap())
            .unwrap()
            .relu()
            .unwrap();
        assert_eq!(ours.dims(), theirs.dims());
        let diff = max_diff(&ours, &theirs);
        assert!(
            diff < 1e-4,
            "{h}x{w} k{k} s{stride} p{padding}: max difference {diff}"
        );
    }
    // Gradients at sizes that take several row tiles, against candle's backward (stride 1,
    // where candle's is right).
    for (c, h, w, k, padding) in [(24, 14, 47, 3, 0), (8, 40, 60, 5, 2)] {
        let x = Var::from_tensor(&seeded(&[3, c, h, w], 11).to_dtype(DType::F32).unwrap()).unwrap();
        let weight =
            Var::from_tensor(&seeded(&[16, c, k, k], 12).to_dtype(DType::F32).unwrap()).unwrap();
        let bias = Var::from_tensor(&seeded(&[16], 13).to_dtype(DType::F32).unwrap()).unwrap();
        let ours = conv2d(&x, &weight, &bias, Conv2dSpec { stride: 1, padding }, true).unwrap();
        let probe = seeded(ours.dims(), 14).to_dtype(DType::F32).unwrap();
        let theirs = x
            .conv2d(&weight, padding, 1, 1, 1)
            .unwrap()
            .broadcast_add(&bias.reshape((1, 16, 1, 1)).unwrap())
            .unwrap()
            .relu()
            .unwrap();
        let g1 = (ours * &probe)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let g2 = (theirs * &probe)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for v in [&x, &weight, &bias] {
            let (a, b) = (
                g1.get(v.as_tensor()).unwrap(),
                g2.get(v.as_tensor()).unwrap(),
            );
            let (scale, diff) = (max_abs(b), max_diff(a, b));
            assert!(
                diff <= 1e-5 * scale.max(1.0),
                "{c}x{h}x{w} k{k} p{padding}: gradient differs by {diff} (scale {scale})"
            );
        }
    }
}

#[test]
fn transposed_convolution_matches_candle_and_finite_differences() {
    for (b, cin, h, w, cout, k, stride, padding, op) in [
        (2, 3, 4, 5, 2, 3, 2, 0, (0, 0)),
        (1, 2, 3, 3, 3, 4, 2, 1, (0, 0)),
        (2, 2, 5, 4, 2, 3, 1, 1, (0, 0)),
        (1, 1, 3, 4, 2, 2, 3, 0, (0, 0)),
        (1, 2, 4, 4, 2, 2, 2, 0, (0, 0)),
        // Output padding: the sizes a stride-2 convolution maps onto the same input.
        (1, 2, 3, 4, 2, 5, 2, 0, (1, 0)),
        (2, 1, 4, 3, 2, 3, 3, 1, (2, 1)),
    ] {
        let spec = Conv2dSpec { stride, padding };
        let x = seeded(&[b, cin, h, w], 51);
        let weight = seeded(&[cin, cout, k, k], 52);
        let bias = seeded(&[cout], 53);
        let ours = conv_transpose2d(&x, &weight, &bias, spec, op, false).unwrap();
        if op == (0, 0) {
            // Candle's output padding is one number for both axes.
            let theirs = x
                .conv_transpose2d(&weight, padding, 0, stride, 1)
                .unwrap()
                .broadcast_add(&bias.reshape((1, cout, 1, 1)).unwrap())
                .unwrap();
            assert_eq!(
                ours.dims(),
                theirs.dims(),
                "{h}x{w} k{k} s{stride} p{padding}"
            );
            assert!(
                max_diff(&ours, &theirs) < 1e-12,
                "{h}x{w} k{k} s{stride} p{padding}"
            );
        } else {
            let size = |n: usize| (n - 1) * stride + k - 2 * padding;
            assert_eq!(ours.dims(), &[b, cout, size(h) + op.0, size(w) + op.1]);
        }
        let probe = seeded(ours.dims(), 54);
        for relu in [false, true] {
            let loss = |t: &[Tensor]| {
                (conv_transpose2d(&t[0], &t[1], &t[2], spec, op, relu).unwrap() * &probe)
                    .unwrap()
                    .sum_all()
                    .unwrap()
            };
            let err = gradient_error(&[x.clone(), weight.clone(), bias.clone()], &loss);
            assert!(
                err < 1e-5,
                "{h}x{w} k{k} s{stride} p{padding} relu {relu}: relative error {err}"
            );
        }
    }
}

#[test]
fn roi_align_samples_bilinearly_and_its_gradient_flows_to_the_features() {
    // A ramp along x: each bin is the mean x of its samples (cell centres at integers).
    let (h, w) = (6, 8);
    let ramp: Vec<f64> = (0..2 * h * w).map(|i| (i % w) as f64).collect();
    let features = Tensor::from_vec(ramp, (1, 2, h, w), &Device::Cpu).unwrap();
    let roi = Roi {
        image: 0,
        x0: 1.0,
        y0: 1.0,
        x1: 5.0,
        y1: 3.0,
    };
    let out = roi_align(&features, &[roi], (1, 2), 1.0, 2).unwrap();
    assert_eq!(out.dims(), &[1, 2, 1, 2]);
    let v = out.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    assert_eq!(v.len(), 4);
    for (a, b) in v.iter().zip([1.5, 3.5, 1.5, 3.5]) {
        assert!((a - b).abs() < 1e-12, "{v:?}");
    }
    // Gradients against finite differences, regions over two images, one past the border.
    let features = seeded(&[2, 2, 5, 6], 61);
    let rois = [
        Roi {
            image: 0,
            x0: 0.3,
            y0: 0.7,
            x1: 4.1,
            y1: 3.9,
        },
        Roi {
            image: 1,
            x0: 2.0,
            y0: 1.0,
            x1: 7.5,
            y1: 6.0,
        },
        Roi {
            image: 1,
            x0: 0.0,
            y0: 0.0,
            x1: 2.0,
            y1: 2.0,
        },
    ];
    let probe = seeded(&[3, 2, 2, 3], 62);
    let loss = |t: &[Tensor]| {
        (roi_align(&t[0], &rois, (2, 3), 1.0, 2).unwrap() * &probe)
            .unwrap()
            .sum_all()
            .unwrap()
    };
    let err = gradient_error(&[features], &loss);
    assert!(err < 1e-6, "relative error {err}");
    assert!(roi_align(&seeded(&[1, 1, 4, 4], 1), &[rois[1]], (2, 2), 1.0, 2).is_err());
}

#[test]
fn affine_input_folded_into_convolution_equals_a_separate_affine() {
    // Every rearrangement path: stride 1, stride 2 (even and odd widths, padded), stride 3.
    for (h, w, k, stride, padding) in [
        (6, 7, 3, 1, 1),
        (9, 12, 5, 2, 0),
        (7, 9, 3, 2, 2),
        (8, 10, 2, 3, 1),
    ] {
        let spec = Conv2dSpec { stride, padding };
        let x = Var::from_tensor(&seeded(&[2, 3, h, w], 31)).unwrap();
        let weight = Var::from_tensor(&seeded(&[4, 3, k, k], 32)).unwrap();
        let bias = Var::from_tensor(&seeded(&[4], 33)).unwrap();
        let folded = conv2d_of_affine(&x, (2.0, -1.0), &weight, &bias, spec, true).unwrap();
        let separate = conv2d(&x.affine(2.0, -1.0).unwrap(), &weight, &bias, spec, true).unwrap();
        let probe = seeded(folded.dims(), 34);
        let grads = |y: Tensor| (y * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        let (g1, g2) = (grads(folded.clone()), grads(separate.clone()));
        assert!(
            max_diff(&folded, &separate) < 1e-12,
            "{h}x{w} k{k} s{stride} p{padding}"
        );
        for v in [&x, &weight, &bias] {
            let (a, b) = (
                g1.get(v.as_tensor()).unwrap(),
                g2.get(v.as_tensor()).unwrap(),
            );
            assert!(
                max_diff(a, b) < 1e-12,
                "{h}x{w} k{k} s{stride} p{padding}: gradients differ"
            );
        }
    }
}

#[test]
fn dense_layer_matches_candle_and_finite_differences() {
    for (b, inputs, outputs) in [(1, 7, 3), (4, 5, 6), (3, 1, 2)] {
        let x = seeded(&[b, inputs], 21);
        let weight = seeded(&[outputs, inputs], 22);
        let bias = seeded(&[outputs], 23);
        let probe = seeded(&[b, outputs], 24);
        for relu in [false, true] {
            let loss = |t: &[Tensor]| {
                (linear(&t[0], &t[1], &t[2], relu).unwrap() * &probe)
                    .unwrap()
                    .sum_all()
                    .unwrap()
            };
            let err = gradient_error(&[x.clone(), weight.clone(), bias.clone()], &loss);
            assert!(
                err < 1e-6,
                "{b}x{inputs}→{outputs} relu {relu}: error {err}"
            );
        }
        let ours = linear(&x, &weight, &bias, false).unwrap();
        let theirs = x
            .matmul(&weight.t().unwrap())
            .unwrap()
            .broadcast_add(&bias)
            .unwrap();
        let diff = max_diff(&ours, &theirs);
        assert!(
            diff < 1e-12,
            "{b}x{inputs}→{outputs}: differs from candle by {diff}"
        );
    }
}

#[test]
fn large_dense_layers_split_over_threads_match_candle() {
    // Above a million multiply-adds the layer is split: by output columns at batch 1, by
    // samples otherwise; gradients split by samples and by weight rows.
    for (b, inputs, outputs) in [(1, 1200, 1000), (4, 600, 500), (3, 700, 601)] {
        let x = Var::from_tensor(&seeded(&[b, inputs], 41)).unwrap();
        let weight = Var::from_tensor(&seeded(&[outputs, inputs], 42)).unwrap();
        let bias = Var::from_tensor(&seeded(&[outputs], 43)).unwrap();
        let probe = seeded(&[b, outputs], 44);
        let ours = linear(&x, &weight, &bias, true).unwrap();
        let theirs = x
            .matmul(&weight.t().unwrap())
            .unwrap()
            .broadcast_add(&bias)
            .unwrap()
            .relu()
            .unwrap();
        assert!(max_diff(&ours, &theirs) < 1e-10, "{b}x{inputs}→{outputs}");
        let grads = |y: Tensor| (y * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        let (g1, g2) = (grads(ours), grads(theirs));
        for v in [&x, &weight, &bias] {
            let (a, c) = (
                g1.get(v.as_tensor()).unwrap(),
                g2.get(v.as_tensor()).unwrap(),
            );
            assert!(
                max_diff(a, c) < 1e-10,
                "{b}x{inputs}→{outputs}: gradients differ"
            );
        }
    }
}

#[test]
fn max_pool_gradient_goes_to_the_maximum() {
    for (h, w, k, s) in [(4, 6, 2, 2), (5, 7, 2, 2), (7, 7, 3, 2)] {
        let x = seeded(&[2, 3, h, w], 8);
        let probe = seeded(&max_pool2d(&x, k, s).unwrap().dims().to_vec(), 9);
        let loss = |t: &[Tensor]| {
            (max_pool2d(&t[0], k, s).unwrap() * &probe)
                .unwrap()
                .sum_all()
                .unwrap()
        };
        let err = gradient_error(&[x.clone()], &loss);
        assert!(err < 1e-5, "{h}x{w} k{k} s{s}: relative error {err}");
        if k == s {
            let theirs = x.max_pool2d_with_stride(k, s).unwrap();
            let ours = max_pool2d(&x, k, s).unwrap();
            assert_eq!(max_diff(&ours, &theirs), 0.0);
        }
    }
}

fn head_config() -> SteeringHeadConfig {
    ModelConfig::pilotnet().steering
}

#[test]
fn mixture_nll_gradient_matches_finite_differences_and_the_reference_density() {
    let config = head_config();
    let k = config.components;
    // Raw head outputs for 4 samples, spread so some components are far from the targets.
    let raw = (seeded(&[4, 3 * k], 10) * 3.0).unwrap();
    let targets = Tensor::new(&[0.02f64, -0.05, 0.0, 0.11], &Device::Cpu).unwrap();
    let loss = |t: &[Tensor]| {
        MixtureBatch::from_raw(&t[0], &config.scale())
            .unwrap()
            .nll(&targets)
            .unwrap()
    };
    let err = gradient_error(&[raw.clone()], &loss);
    assert!(err < 1e-5, "relative error {err}");

    // The same mixtures evaluated by the plain-Rust distribution (SteeringDistribution).
    let batch = MixtureBatch::from_raw(&raw, &config.scale()).unwrap();
    let dists: Vec<SteeringDistribution> = batch.to_distributions().unwrap();
    let reference: f64 = -dists
        .iter()
        .zip([0.02, -0.05, 0.0, 0.11])
        .map(|(d, y)| d.log_prob(y))
        .sum::<f64>()
        / 4.0;
    let ours = batch.nll(&targets).unwrap().to_scalar::<f64>().unwrap();
    assert!((ours - reference).abs() < 1e-9, "{ours} vs {reference}");

    // Far in the tail the density underflows but the log-likelihood stays finite.
    let far = Tensor::new(&[50.0f64, -50.0, 50.0, -50.0], &Device::Cpu).unwrap();
    assert!(
        batch
            .nll(&far)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
            .is_finite()
    );
}

#[test]
fn route_blind_nll_scores_each_exit_on_its_own_component() {
    use steerlab::nn::data::route_blind::AnchoredTargets;
    use steerlab::sim::network::Turn;
    let config = head_config();
    let k = config.components;
    assert!(k >= 3);
    let raw = (seeded(&[2, 3 * k], 11) * 3.0).unwrap();
    // Sample 0 near a junction: three exits, a third each on components 0, 1, 2; sample 1
    // away from junctions: its label on the whole mixture.
    let exits = [
        (Turn::Left, 0.08f32),
        (Turn::Straight, 0.0),
        (Turn::Right, -0.1),
    ];
    let anchored = AnchoredTargets::new(&[&exits[..], &[]], k).unwrap();
    let anchored = AnchoredTargets {
        values: anchored.values.to_dtype(DType::F64).unwrap(),
        shares: anchored.shares.to_dtype(DType::F64).unwrap(),
        plain: anchored.plain.to_dtype(DType::F64).unwrap(),
    };
    let targets = Tensor::new(&[0.08f64, 0.01], &Device::Cpu).unwrap();
    let loss = |t: &[Tensor]| {
        MixtureBatch::from_raw(&t[0], &config.scale())
            .unwrap()
            .route_blind_nll(&targets, &anchored)
            .unwrap()
    };
    let err = gradient_error(&[raw.clone()], &loss);
    assert!(err < 1e-5, "relative error {err}");
    // By hand from the plain-Rust mixtures: −Σ_c ⅓ (ln w_c + ln N(exit_c; μ_c, σ_c)) for the
    // first, −ln p(0.01) for the second, averaged.
    let dists = MixtureBatch::from_raw(&raw, &config.scale())
        .unwrap()
        .to_distributions()
        .unwrap();
    let mut near = 0.0;
    for (c, &(_, y)) in exits.iter().enumerate() {
        let comp = &dists[0].components()[c];
        let z = (y as f64 - comp.mean) / comp.std_dev;
        let log_normal = -0.5 * z * z - comp.std_dev.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln();
        near -= (comp.weight.ln() + log_normal) / 3.0;
    }
    let reference = (near - dists[1].log_prob(0.01)) / 2.0;
    let ours = loss(&[raw]).to_scalar::<f64>().unwrap();
    assert!((ours - reference).abs() < 1e-6, "{ours} vs {reference}");
}

#[test]
fn presets_have_the_published_shapes() {
    let images = Tensor::zeros((2, 3, 66, 200), DType::F32, &Device::Cpu).unwrap();
    for (config, features, parameters) in [
        // PilotNet (Bojarski et al. 2016): 64×1×18 features; parameters counted by hand:
        // convs 1,824 + 21,636 + 43,248 + 27,712 + 36,928, dense 115,300 + 5,050 + 510, head 99.
        (ModelConfig::pilotnet(), vec![2, 64, 1, 18], 252_307),
        // Lecture: 66×200 → conv3 64×198 → pool 32×99 → conv3 30×97 → pool 15×48.
        (
            ModelConfig::lecture(),
            vec![2, 64, 15, 48],
            896 + 18_496 + 46_080 * 64 + 64 + 65 * 9,
        ),
    ] {
        let model = Model::new(config.clone(), 0).unwrap();
        assert_eq!(
            model.net.backbone.forward(&images).unwrap().dims(),
            features.as_slice(),
            "{}",
            config.preset
        );
        assert_eq!(model.parameter_count(), parameters, "{}", config.preset);
        let out = model
            .net
            .forward(&steerlab::nn::models::steering::Inputs::camera(
                images.clone(),
            ))
            .unwrap();
        for t in [&out.log_weights, &out.means, &out.std_devs] {
            assert_eq!(t.dims(), &[2, 3]);
        }
        // The whole network differentiates at PilotNet's exact unpadded shapes.
        let targets = Tensor::new(&[0.01f32, -0.02], &Device::Cpu).unwrap();
        let grads = out.nll(&targets).unwrap().backward().unwrap();
        for var in model.varmap.all_vars() {
            assert!(
                grads.get(var.as_tensor()).is_some(),
                "{}: a variable without gradient",
                config.preset
            );
        }
    }
}

/// A routed navnet small enough for finite differences: camera 3×8×8 → 2×6×6, routed map
/// 2×8×8 → 2×3×3, a steering head of hidden width 4.
pub(crate) fn tiny_navnet() -> ModelConfig {
    use steerlab::nn::models::steering::config::{InputSpec, LayerSpec, MapBranchConfig};
    use steerlab::sim::map_input::{MapMode, MapSpec};
    let conv = |out_channels, stride| LayerSpec::Conv {
        out_channels,
        kernel: 3,
        stride,
        padding: 0,
    };
    let mut config = ModelConfig::navnet(MapMode::Routed);
    config.input = InputSpec {
        channels: 3,
        height: 8,
        width: 8,
    };
    config.backbone.layers = vec![conv(2, 1)];
    config.map = Some(MapBranchConfig {
        mode: MapMode::Routed,
        spec: MapSpec {
            size: 8,
            half_extent_m: 40.0,
        },
        layers: vec![conv(2, 2)],
    });
    config.steering.hidden = vec![4];
    config.speed.as_mut().unwrap().trunk = vec![conv(2, 2)];
    config
}

/// A network of `config` in f64 on the CPU, its variables map, and its variables by name. By
/// name: a VarMap's own order changes from run to run, and with it which weights a pattern
/// lands on (some orders left every map unit of a tiny net dead).
pub(crate) fn f64_net(
    config: &ModelConfig,
) -> (
    candle_nn::VarMap,
    steerlab::nn::models::steering::SteeringNet,
    Vec<(String, candle_core::Var)>,
) {
    let varmap = candle_nn::VarMap::new();
    let vb = candle_nn::VarBuilder::from_varmap(&varmap, DType::F64, &Device::Cpu);
    let net = steerlab::nn::models::steering::SteeringNet::new(config, vb).unwrap();
    let mut named: Vec<(String, candle_core::Var)> = varmap
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(name, var)| (name.clone(), var.clone()))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    (varmap, net, named)
}

#[test]
fn navnet_and_cil_gradients_match_finite_differences_on_a_tiny_config() {
    use steerlab::nn::models::steering::Inputs;
    // Four command branches.
    let mut config = tiny_navnet();
    config.command_heads = 4;
    assert_eq!(config.head_features().unwrap(), 72 + 18);
    let (_, net, named) = f64_net(&config);
    for (i, (_, var)) in named.iter().enumerate() {
        var.set(&(seeded(var.dims(), 100 + i as u64) * 0.5).unwrap())
            .unwrap();
    }
    let commands = Tensor::new(
        &[
            [0.0f64, 1.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
            [1.0, 0.0, 0.0, 0.0],
        ],
        &Device::Cpu,
    )
    .unwrap();
    let targets = Tensor::new(&[0.02f64, -0.04, 0.0], &Device::Cpu).unwrap();
    let loss = |t: &[Tensor]| {
        let inputs = Inputs {
            images: t[0].clone(),
            maps: Some(t[1].clone()),
            commands: Some(commands.clone()),
            wheel_speeds: None,
        };
        net.forward(&inputs).unwrap().nll(&targets).unwrap()
    };
    let images = seeded(&[3, 3, 8, 8], 1).affine(0.5, 0.5).unwrap();
    let maps = seeded(&[3, 2, 8, 8], 2).affine(0.5, 0.5).unwrap();
    let err = gradient_error(&[images.clone(), maps.clone()], &loss);
    assert!(err < 1e-4, "relative error {err}");
    // The map moves the answer, and the command picks the branch.
    let forward = |maps: &Tensor, commands: &Tensor| {
        net.forward(&Inputs {
            images: images.clone(),
            maps: Some(maps.clone()),
            commands: Some(commands.clone()),
            wheel_speeds: None,
        })
        .unwrap()
        .means
    };
    let base = forward(&maps, &commands);
    assert!(max_diff(&base, &forward(&maps.zeros_like().unwrap(), &commands)) > 1e-6);
    let other = Tensor::new(
        &[
            [0.0f64, 0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
            [1.0, 0.0, 0.0, 0.0],
        ],
        &Device::Cpu,
    )
    .unwrap();
    let changed = (forward(&maps, &other) - &base).unwrap().abs().unwrap();
    let per_sample = changed.max(1).unwrap().to_vec1::<f64>().unwrap();
    assert!(per_sample[0] > 1e-6 && per_sample[1] == 0.0 && per_sample[2] == 0.0);
    // One camera frame's features serve many map patches (localisation's candidates): the
    // same mixtures as the frame repeated beside each patch.
    let one = images.narrow(0, 1, 1).unwrap();
    let camera = net.camera_features(&one).unwrap();
    let shared = net
        .forward_features(&camera, Some(&maps), Some(&commands))
        .unwrap();
    let repeated = net
        .forward(&Inputs {
            images: one.repeat((3, 1, 1, 1)).unwrap(),
            maps: Some(maps.clone()),
            commands: Some(commands.clone()),
            wheel_speeds: None,
        })
        .unwrap();
    assert!(max_diff(&shared.means, &repeated.means) < 1e-12);
    assert!(max_diff(&shared.std_devs, &repeated.std_devs) < 1e-12);
    // Without its map, a navnet says what it lacks.
    let err = net.forward(&Inputs::camera(images.clone())).err().unwrap();
    assert!(err.to_string().contains("map"), "{err}");
}

#[test]
fn checkpoints_round_trip_exactly_and_reject_mismatched_weights() {
    let dir = crate::tempdir("checkpoint");
    let model = Model::new(ModelConfig::pilotnet(), 42).unwrap();
    model.save(&dir).unwrap();
    let loaded = Model::load(&dir).unwrap();
    let (a, b) = (model.tensors().unwrap(), loaded.tensors().unwrap());
    assert_eq!(a.len(), b.len());
    for (name, t) in &a {
        let (x, y) = (
            t.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            b[name].flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        );
        assert_eq!(bits(&x), bits(&y), "{name} changed");
    }
    let image = (Tensor::ones((1, 3, 66, 200), DType::F32, &Device::Cpu).unwrap() * 0.5).unwrap();
    let image = steerlab::nn::models::steering::Inputs::camera(image);
    assert_eq!(
        model.predict(&image).unwrap(),
        loaded.predict(&image).unwrap()
    );
    // Same seed, same model; another seed, another model.
    let again = Model::new(ModelConfig::pilotnet(), 42)
        .unwrap()
        .tensors()
        .unwrap();
    let other = Model::new(ModelConfig::pilotnet(), 43)
        .unwrap()
        .tensors()
        .unwrap();
    let first = |m: &std::collections::HashMap<String, Tensor>| {
        m["backbone.conv0.weight"]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    };
    assert_eq!(first(&a), first(&again));
    assert_ne!(first(&a), first(&other));

    // Lecture weights under a PilotNet config: the error names the tensors.
    Model::new(ModelConfig::lecture(), 0)
        .unwrap()
        .save(&dir.join("lecture"))
        .unwrap();
    std::fs::copy(
        dir.join("lecture").join(WEIGHTS_FILE),
        dir.join(WEIGHTS_FILE),
    )
    .unwrap();
    let err = Model::load(&dir)
        .err()
        .expect("mismatch detected")
        .to_string();
    assert!(
        err.contains("model.safetensors")
            && err.contains("backbone.conv4.weight")
            && err.contains("missing"),
        "{err}"
    );
    // A truncated weights file and a damaged config are named too.
    let bytes = std::fs::read(dir.join("lecture").join(WEIGHTS_FILE)).unwrap();
    std::fs::write(dir.join(WEIGHTS_FILE), &bytes[..bytes.len() / 2]).unwrap();
    let err = Model::load(&dir)
        .err()
        .expect("truncation detected")
        .to_string();
    assert!(err.contains("model.safetensors"), "{err}");
    std::fs::write(
        dir.join(CONFIG_FILE),
        r#"{"preset": "pilotnet", "input": {"channels": "three"}}"#,
    )
    .unwrap();
    let err = Model::load(&dir)
        .err()
        .expect("bad config detected")
        .to_string();
    assert!(
        err.contains("config.json") && err.contains("input.channels"),
        "{err}"
    );
}

/// Three short expert episodes on the winding built-in track (rendered, so it takes a few
/// seconds), recorded once for the training tests.
fn recorded_set() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = crate::tempdir("episodes");
        let mut scenario = steerlab::sim::scenario::builtin()
            .unwrap()
            .into_iter()
            .find(|s| s.name == "winding")
            .unwrap();
        scenario.episode_steps = 160;
        let mut env =
            steerlab::world::Env::new(scenario, steerlab::world::EnvOptions::default()).unwrap();
        for episode in 0..3 {
            let path = dir.join(format!("winding-{episode}.mcap"));
            steerlab::drive::collect::record_episode(
                &mut env,
                &path,
                100 + episode as u64,
                episode,
                steerlab::sim::DartNoise::white(0.02),
                &mut || {},
            )
            .unwrap();
        }
        dir
    })
}

fn options(out: &Path, epochs: usize) -> TrainOptions {
    let mut o = TrainOptions::new(
        vec![recorded_set().to_path_buf()],
        out.to_path_buf(),
        ModelConfig::pilotnet(),
    );
    o.epochs = epochs;
    o.batch_size = 16;
    o.learning_rate = 3e-3;
    o.patience = epochs;
    o.validation_fraction = 0.34;
    o
}

#[test]
fn training_on_recorded_episodes_lowers_validation_nll_well_below_its_start() {
    let out = crate::tempdir("train");
    let report = train(&options(&out, 10), &mut Quiet, &AtomicBool::new(false)).unwrap();
    let initial = report.history[0].validation_nll;
    // Initial mixtures are broad (σ ≈ 0.036 1/m): NLL near −2.4 nats on curvatures of about
    // 0.01 1/m. A model that reads the road gets sharp mixtures around the expert's curvature
    // (−3.9 after 6 epochs on 1,500 frames of this track at the default settings).
    // Bar: 0.75 nats, the expert's actions made 2.1 times as likely.
    assert!(
        report.best_validation_nll < initial - 0.75,
        "validation NLL {initial} → {}",
        report.best_validation_nll
    );
    assert!(out.join(CONFIG_FILE).is_file() && out.join(WEIGHTS_FILE).is_file());
    assert!(out.join("metrics.csv").is_file() && out.join("curves.png").is_file());
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + report.history.len());
    // Training without --resume into a directory that holds a model is refused.
    assert!(train(&options(&out, 8), &mut Quiet, &AtomicBool::new(false)).is_err());
}

#[test]
fn a_second_training_run_into_the_same_folder_is_refused_while_the_first_holds_it() {
    let out = crate::tempdir("train-locked");
    let held = steerlab::files::lock_dir(&out, "training run").unwrap();
    let err = train(&options(&out, 1), &mut Quiet, &AtomicBool::new(false))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("another training run is writing into this folder"),
        "{err}"
    );
    assert!(
        !out.join(CONFIG_FILE).exists(),
        "nothing written beside the first run"
    );
    drop(held);
    // Released (as when the first run ends, however it ends), the folder trains.
    train(&options(&out, 1), &mut Quiet, &AtomicBool::new(false)).unwrap();
    assert!(out.join(CONFIG_FILE).is_file());
}

/// Raises the interrupt flag after a number of batches, as Ctrl-C does.
struct InterruptAfter<'a>(usize, &'a AtomicBool);
impl TrainObserver for InterruptAfter<'_> {
    fn batch_done(&mut self, _loss: f64, _samples_per_s: f64) {
        self.0 = self.0.saturating_sub(1);
        if self.0 == 0 {
            self.1.store(true, Ordering::SeqCst);
        }
    }
}

#[test]
fn resuming_an_interrupted_run_gives_the_weights_of_an_uninterrupted_one() {
    let (whole, split) = (crate::tempdir("whole"), crate::tempdir("split"));
    let full = train(&options(&whole, 2), &mut Quiet, &AtomicBool::new(false)).unwrap();
    let flag = AtomicBool::new(false);
    let cut = train(&options(&split, 2), &mut InterruptAfter(3, &flag), &flag).unwrap();
    assert_eq!(cut.stop, steerlab::nn::train::steering::Stop::Interrupted);
    let mut resumed_options = options(&split, 2);
    resumed_options.resume = true;
    let resumed = train(&resumed_options, &mut Quiet, &AtomicBool::new(false)).unwrap();
    assert_eq!(resumed.history.len(), full.history.len());
    let last = |dir: &Path| {
        steerlab::nn::models::checkpoint::load_tensors(
            &dir.join("train_state").join("weights.safetensors"),
        )
        .unwrap()
    };
    let (a, b) = (last(&whole), last(&split));
    for (name, t) in &a {
        let (x, y) = (
            t.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            b[name].flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        );
        assert_eq!(bits(&x), bits(&y), "{name} differs after resuming");
    }
    for (m, n) in full.history.iter().zip(&resumed.history) {
        assert_eq!(m.validation_nll.to_bits(), n.validation_nll.to_bits());
    }
}

#[test]
fn resuming_with_another_thread_count_says_it_is_not_bit_for_bit() {
    // The convolutions sum gradients per chunk of samples, and the chunks follow the rayon
    // thread count: a resume on another count continues, with a warning naming both.
    let dir = crate::tempdir("resume-threads");
    let flag = AtomicBool::new(false);
    train(&options(&dir, 1), &mut InterruptAfter(2, &flag), &flag).unwrap();
    let other = rayon::current_num_threads() + 1;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(other)
        .build()
        .unwrap();
    let mut resumed = options(&dir, 1);
    resumed.resume = true;
    let report = pool
        .install(|| train(&resumed, &mut Quiet, &AtomicBool::new(false)))
        .unwrap();
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("not bit for bit") && w.contains(&format!("{other} threads"))),
        "{:?}",
        report.warnings
    );
}

fn synthetic_dataset(scenarios: usize, episodes_each: usize, ticks: u64) -> Dataset {
    let mut data = Dataset::default();
    for s in 0..scenarios {
        for e in 0..episodes_each {
            let episode = data.episodes.len();
            data.episodes.push(PathBuf::from(format!("s{s}-e{e}.mcap")));
            data.episode_scenarios.push(format!("scenario{s}"));
            for tick in 0..ticks {
                data.samples.push(Sample {
                    png: Vec::new().into(),
                    curvature_per_m: 0.0,
                    speed_m_s: 5.0,
                    lane_offset_m: 0.0,
                    heading_error_rad: 0.0,
                    car_speed_m_s: 0.0,
                    wheel_speed_m_s: None,
                    episode,
                    tick,
                    map_png: None,
                    command: steerlab::sim::map_input::Command::Follow,
                    exits: Vec::new(),
                });
            }
        }
    }
    data
}

#[test]
fn every_scenario_is_both_trained_and_validated_on() {
    // Five scenarios, two episodes each, 20 % held out: split over all ten episodes, two
    // whole scenarios could have gone to validation and three never been validated. Within
    // each scenario, one of its two episodes validates.
    let scenario_of =
        |data: &Dataset, i: usize| data.episode_scenarios[data.samples[i].episode].clone();
    for seed in 0..20 {
        let data = synthetic_dataset(5, 2, 30);
        let split = data.split(0.2, seed);
        let mut trained: Vec<String> = split.train.iter().map(|&i| scenario_of(&data, i)).collect();
        let mut validated: Vec<String> = split
            .validation
            .iter()
            .map(|&i| scenario_of(&data, i))
            .collect();
        trained.dedup();
        trained.sort();
        trained.dedup();
        validated.sort();
        validated.dedup();
        assert_eq!(trained.len(), 5, "seed {seed}");
        assert_eq!(validated.len(), 5, "seed {seed}");
        assert_eq!(split.validation.len(), 150);
        // Episodes are not split: each is wholly on one side.
        for &i in &split.validation {
            assert!(
                split
                    .train
                    .iter()
                    .all(|&j| data.samples[j].episode != data.samples[i].episode)
            );
        }
    }
    // One episode per scenario: each is split in time, its last 20 % validating.
    let data = synthetic_dataset(5, 1, 50);
    let split = data.split(0.2, 0);
    assert_eq!(split.validation.len(), 50);
    assert!(split.validation.iter().all(|&i| data.samples[i].tick >= 40));
    assert!(split.train.iter().all(|&i| data.samples[i].tick < 40));
}

#[test]
fn balanced_epochs_draw_curvature_bands_by_the_square_root_of_their_size() {
    // 900 straight, 90 gentle, 9 medium and 1 sharp frame.
    let curvatures = [(900, 0.001f32), (90, -0.02), (9, 0.05), (1, -0.1)];
    let samples: Vec<Sample> = curvatures
        .iter()
        .flat_map(|&(n, k)| std::iter::repeat_n(k, n))
        .enumerate()
        .map(|(tick, curvature_per_m)| Sample {
            png: std::sync::Arc::from(Vec::new()),
            curvature_per_m,
            speed_m_s: 5.0,
            lane_offset_m: 0.0,
            heading_error_rad: 0.0,
            car_speed_m_s: 0.0,
            wheel_speed_m_s: None,
            episode: 0,
            tick: tick as u64,
            map_png: None,
            command: steerlab::sim::map_input::Command::Follow,
            exits: Vec::new(),
        })
        .collect();
    let data = Dataset {
        samples,
        ..Dataset::default()
    };
    let all: Vec<usize> = (0..1000).collect();
    let order = data.epoch_order(&all, true, 7, 0);
    assert_eq!(order.len(), 1000);
    assert_eq!(order, data.epoch_order(&all, true, 7, 0), "seeded");
    assert_ne!(
        order,
        data.epoch_order(&all, true, 7, 1),
        "new order per epoch"
    );
    let count = |k: f32| {
        order
            .iter()
            .filter(|&&i| data.samples[i].curvature_per_m == k)
            .count()
    };
    // Shares 30 : 9.49 : 3 : 1 of 43.49.
    let expected = [(0.001, 689.8), (-0.02, 218.2), (0.05, 69.0), (-0.1, 23.0)];
    for (k, n) in expected {
        assert!(
            (count(k) as f64 - n).abs() <= 1.0,
            "{k}: {} not {n}",
            count(k)
        );
    }
    // Unbalanced: every sample once.
    let mut plain = data.epoch_order(&all, false, 7, 0);
    plain.sort();
    assert_eq!(plain, all);
}

#[test]
fn decision_ticks_before_a_junction_are_drawn_as_a_band_of_their_own() {
    // 990 straight frames away from junctions and 10 on the approach where the exits part:
    // balanced, the 10 fill √10 / (√990 + √10) of the epoch (≈ 9 %, not 1 %).
    let samples: Vec<Sample> = (0..1000u64)
        .map(|tick| Sample {
            png: std::sync::Arc::from(Vec::new()),
            curvature_per_m: 0.0,
            speed_m_s: 5.0,
            lane_offset_m: 0.0,
            heading_error_rad: 0.0,
            car_speed_m_s: 0.0,
            wheel_speed_m_s: None,
            episode: 0,
            tick,
            map_png: None,
            command: steerlab::sim::map_input::Command::Follow,
            exits: if tick >= 990 {
                use steerlab::sim::network::Turn;
                vec![(Turn::Left, 0.1), (Turn::Right, -0.1)]
            } else {
                Vec::new()
            },
        })
        .collect();
    let data = Dataset {
        samples,
        ..Dataset::default()
    };
    let all: Vec<usize> = (0..1000).collect();
    let order = data.epoch_order(&all, true, 3, 0);
    let decisions = order.iter().filter(|&&i| i >= 990).count();
    let expected = 1000.0 * 10f64.sqrt() / (990f64.sqrt() + 10f64.sqrt());
    assert!(
        (decisions as f64 - expected).abs() <= 1.0,
        "{decisions} vs {expected}"
    );
    // Unbalanced, each frame once.
    let plain = data.epoch_order(&all, false, 3, 0);
    assert_eq!(plain.iter().filter(|&&i| i >= 990).count(), 10);
}

/// A `config.json` written to exhaust memory or overflow is refused before any allocation,
/// as is a preset nobody knows.
#[test]
fn hostile_model_configs_are_refused_with_the_field_named() {
    use steerlab::nn::models::steering::config::{LayerSpec, ModelConfig};
    let mut wide = ModelConfig::pilotnet();
    wide.steering.hidden = vec![usize::MAX / 2, usize::MAX / 2];
    let err = wide.feature_shape().unwrap_err();
    assert!(err.contains("steering"), "{err}");
    let mut huge = ModelConfig::pilotnet();
    huge.steering.hidden = vec![60_000, 60_000, 60_000];
    let err = huge.feature_shape().unwrap_err();
    assert!(err.contains("parameters"), "{err}");
    let mut conv = ModelConfig::pilotnet();
    conv.backbone.layers[0] = LayerSpec::Conv {
        out_channels: 4096,
        kernel: 5,
        stride: 2,
        padding: usize::MAX / 2,
    };
    let err = conv.feature_shape().unwrap_err();
    assert!(err.contains("backbone.layers[0]"), "{err}");
    let mut unknown = ModelConfig::pilotnet();
    unknown.preset = "resnet".into();
    let err = unknown.feature_shape().unwrap_err();
    assert!(err.contains("preset"), "{err}");
    for preset in steerlab::nn::models::steering::config::PRESETS {
        let config = ModelConfig::preset(preset).unwrap();
        assert!(config.feature_shape().is_ok(), "{preset}");
    }
}
