//! The steering distribution: a proper density, stable logs, moments, entropy and coverage
//! that agree with their closed forms or with sampling.

use rand::{SeedableRng, rngs::StdRng};
use steerlab::nn::SteeringDistribution;

fn mixture() -> SteeringDistribution {
    SteeringDistribution::new(&[0.2, 0.5, 0.3], &[-0.05, 0.01, 0.08], &[0.01, 0.004, 0.02]).unwrap()
}

#[test]
fn density_integrates_to_one_and_logs_stay_finite() {
    let d = mixture();
    let (lo, hi, n) = (-0.5, 0.5, 200_000);
    let h = (hi - lo) / n as f64;
    let integral: f64 = (0..n)
        .map(|i| d.pdf(lo + (i as f64 + 0.5) * h))
        .sum::<f64>()
        * h;
    assert!((integral - 1.0).abs() < 1e-6, "{integral}");
    for x in [-0.05, 0.0, 0.013, 0.2] {
        assert!((d.log_prob(x) - d.pdf(x).ln()).abs() < 1e-9);
    }
    // Far in the tail the density underflows but its log does not.
    assert_eq!(d.pdf(1e3), 0.0);
    assert!(d.log_prob(1e3).is_finite() && d.log_prob(-1e6).is_finite());
}

#[test]
fn moments_mode_and_sampling_agree() {
    let d = mixture();
    // Closed forms: E = Σ w μ; Var = Σ w (σ² + (μ − E)²).
    let mean = 0.2 * -0.05 + 0.5 * 0.01 + 0.3 * 0.08;
    assert!((d.mean() - mean).abs() < 1e-12);
    assert_eq!(d.mode(), 0.01, "the mean of the heaviest component");
    let mut rng = StdRng::seed_from_u64(3);
    let n = 200_000;
    let xs: Vec<f64> = (0..n).map(|_| d.sample(&mut rng)).collect();
    let m = xs.iter().sum::<f64>() / n as f64;
    let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n as f64;
    let se = (d.variance() / n as f64).sqrt();
    assert!(
        (m - d.mean()).abs() < 4.0 * se,
        "sample mean {m} vs {}",
        d.mean()
    );
    assert!(
        (v / d.variance() - 1.0).abs() < 0.02,
        "sample variance {v} vs {}",
        d.variance()
    );
    let mut again = StdRng::seed_from_u64(3);
    assert_eq!(d.sample(&mut again), xs[0], "sampling is seeded");
}

#[test]
fn entropy_matches_closed_forms() {
    // One Gaussian: ½ ln(2πe σ²).
    let sigma: f64 = 0.01;
    let g = SteeringDistribution::new(&[1.0], &[0.0], &[sigma]).unwrap();
    let exact = 0.5 * (2.0 * std::f64::consts::PI * std::f64::consts::E * sigma * sigma).ln();
    assert!(
        (g.entropy() - exact).abs() < 1e-6,
        "{} vs {exact}",
        g.entropy()
    );
    // Two equal, far-apart Gaussians: one more bit of uncertainty (ln 2 nats).
    let two = SteeringDistribution::new(&[1.0, 1.0], &[-0.1, 0.1], &[sigma, sigma]).unwrap();
    assert!((two.entropy() - exact - std::f64::consts::LN_2).abs() < 1e-5);
}

#[test]
fn head_outputs_and_coverage() {
    // softmax(0, ln 3) = (1/4, 3/4); softplus(0) = ln 2.
    let d = SteeringDistribution::from_head(&[0.0, 3f64.ln()], &[0.0, 0.02], &[0.0, -40.0], 1e-3)
        .unwrap();
    let c = d.components();
    assert!((c[0].weight - 0.25).abs() < 1e-12 && (c[1].weight - 0.75).abs() < 1e-12);
    assert!((c[0].std_dev - (2f64.ln() + 1e-3)).abs() < 1e-12);
    assert!(
        c[1].std_dev >= 1e-3,
        "the floor holds for very negative scales"
    );
    // Calibration of a single Gaussian against its own samples: 68.27 % within 1σ, 95.45 % within 2σ.
    let g = SteeringDistribution::new(&[1.0], &[0.03], &[0.01]).unwrap();
    let mut rng = StdRng::seed_from_u64(8);
    let xs: Vec<f64> = (0..100_000).map(|_| g.sample(&mut rng)).collect();
    let frac = |z: f64| xs.iter().filter(|&&x| g.within(x, z)).count() as f64 / xs.len() as f64;
    assert!((frac(1.0) - 0.6827).abs() < 0.006, "{}", frac(1.0));
    assert!((frac(2.0) - 0.9545).abs() < 0.004, "{}", frac(2.0));
    assert_eq!(SteeringDistribution::from_msg(&d.to_msg(4)).unwrap(), d);
}

#[test]
fn invalid_parameters_are_errors() {
    assert!(SteeringDistribution::new(&[], &[], &[]).is_err());
    assert!(SteeringDistribution::new(&[1.0], &[0.0, 1.0], &[0.1]).is_err());
    assert!(SteeringDistribution::new(&[1.0], &[0.0], &[0.0]).is_err());
    assert!(SteeringDistribution::new(&[-1.0, 2.0], &[0.0, 0.0], &[0.1, 0.1]).is_err());
    assert!(SteeringDistribution::new(&[1.0], &[f64::NAN], &[0.1]).is_err());
    assert!(SteeringDistribution::from_head(&[f64::NAN], &[0.0], &[0.0], 1e-3).is_err());
}
