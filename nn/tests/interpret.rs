//! Hooks, heat maps and Grad-CAM (`examples/heatmap.rs`), checked on a small CNN whose
//! answers are known: the hook stores the body's output and its gradient and is gone once
//! dropped; the activation map of an image whose only bright region is known peaks there;
//! Grad-CAM's channel weights are the spatial mean of the gradient, computed here by hand;
//! the bilinear upsampling and the colour map at known points.
use autograd::Tape;
use nn::hooks::{hook_output, live_hooks};
use nn::layers::{AdaptiveAvgPool2d, Conv2d, Flatten, Linear, ReLU, Sequential};
use nn::vision::{activation_map, grad_cam, grad_cam_of, magma, overlay, upsample_bilinear};
use nn::{Mode, Module, Vars};
use tensor::{Conv2dParams, Tensor};

/// Body: a 3x3 convolution 3 -> 4 with positive weights and a ReLU (so activations are high
/// where the image is bright); head: average pool, flatten, linear 4 -> 2. With its
/// parameters.
fn small_cnn() -> (Sequential, Vars) {
    let vars = Vars::new(3);
    let p = vars.root();
    let conv = Conv2d::new(p.pp(0).pp(0), 3, 4, 3, Conv2dParams::new(1, 1), false).unwrap();
    conv.weight.set(conv.weight.value().abs().unwrap());
    let body = Sequential::new().push(conv).push(ReLU);
    let head = Sequential::new()
        .push(AdaptiveAvgPool2d { out: [1, 1] })
        .push(Flatten)
        .push(Linear::new(p.pp(1).pp(2), 4, 2, true).unwrap());
    (Sequential::new().push(body).push(head), vars)
}

/// 1 x 3 x 12 x 12, zero but for a bright 3 x 3 patch at rows 7..10, columns 2..5.
fn patch_image() -> Tensor {
    let data = (0..3 * 144)
        .map(|i| {
            let (y, x) = ((i / 12) % 12, i % 12);
            if (7..10).contains(&y) && (2..5).contains(&x) {
                1.0f32
            } else {
                0.0
            }
        })
        .collect();
    Tensor::from_vec(data, &[1, 3, 12, 12]).unwrap()
}

#[test]
fn a_hook_stores_the_body_output_and_is_gone_when_dropped() {
    let model = small_cnn().0;
    let before = live_hooks();
    let hook = hook_output(model.layers[0].as_ref(), false);
    assert_eq!(live_hooks(), before + 1);
    assert!(hook.stored().is_none(), "nothing ran yet");
    let x = patch_image();
    let out = model
        .forward(Tape::new().input(x.clone()), Mode::Eval)
        .unwrap();
    let stored = hook.stored().unwrap();
    let direct = model.layers[0]
        .forward(Tape::new().input(x), Mode::Eval)
        .unwrap();
    assert_eq!(stored.shape(), [1, 4, 12, 12]);
    assert_eq!(
        stored.tensor().to_vec::<f32>().unwrap(),
        direct.tensor().to_vec::<f32>().unwrap()
    );
    assert_eq!(out.shape(), [1, 2]);
    drop(hook);
    assert_eq!(live_hooks(), before, "dropping the hook removes it");
}

#[test]
fn the_activation_map_peaks_on_the_only_bright_region() {
    let model = small_cnn().0;
    let hook = hook_output(model.layers[0].as_ref(), false);
    model
        .forward(Tape::new().input(patch_image()), Mode::Eval)
        .unwrap();
    let acts = hook.stored().unwrap().tensor().squeeze(0).unwrap();
    let map = activation_map(&acts).unwrap();
    assert_eq!(map.shape(), [12, 12]);
    let v = map.to_vec::<f32>().unwrap();
    let best = (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap();
    assert_eq!((best / 12, best % 12), (8, 3), "the patch's centre");
    // Far from the patch (beyond the 3x3 receptive field) nothing fires.
    assert_eq!(v[12 + 10], 0.0);
    // Upsampled 4x and laid over the image, the brightest colour is still over the patch.
    let shown = patch_image().squeeze(0).unwrap();
    let big = upsample_bilinear(&map, 48, 48)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let best = (0..big.len())
        .max_by(|&a, &b| big[a].total_cmp(&big[b]))
        .unwrap();
    assert!(
        (32..36).contains(&(best / 48)) && (12..16).contains(&(best % 48)),
        "{best}"
    );
    let over = overlay(&shown, &map, 0.6).unwrap();
    assert_eq!(over.shape(), [3, 12, 12]);
}

#[test]
fn grad_cam_weights_are_the_spatial_mean_of_the_hooked_gradient() {
    let (model, vars) = small_cnn();
    let hook = hook_output(model.layers[0].as_ref(), true);
    let tape = Tape::new();
    let out = model
        .forward(tape.input(patch_image()), Mode::Eval)
        .unwrap();
    let grads = out
        .narrow(1, 1, 1)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let acts = hook.stored().unwrap().tensor().squeeze(0).unwrap();
    let grad = hook
        .grad(&grads)
        .expect("the hook kept the gradient")
        .squeeze(0)
        .unwrap();
    // By hand: the score is w1 . mean(acts) + b, so d(score)/d(acts[c, y, x]) = w1[c] / 144.
    let (_, weight) = (vars.params().into_iter())
        .find(|(name, _)| name == "1.2.weight")
        .unwrap();
    let w1 = weight.value().to_vec::<f32>().unwrap()[4..8].to_vec();
    let g = grad.to_vec::<f32>().unwrap();
    for c in 0..4 {
        for i in 0..144 {
            assert!((g[c * 144 + i] - w1[c] / 144.0).abs() < 1e-7);
        }
    }
    let (weights, cam) = grad_cam(&acts, &grad).unwrap();
    let hand: Vec<f32> = (0..4)
        .map(|c| g[c * 144..(c + 1) * 144].iter().sum::<f32>() / 144.0)
        .collect();
    for (w, h) in weights.to_vec::<f32>().unwrap().iter().zip(&hand) {
        assert!((w - h).abs() < 1e-7, "{w} {h}");
    }
    let a = acts.to_vec::<f32>().unwrap();
    let cam = cam.to_vec::<f32>().unwrap();
    for p in 0..144 {
        let want = (0..4).map(|c| a[c * 144 + p] * hand[c]).sum::<f32>() / 4.0;
        assert!((cam[p] - want).abs() < 1e-6);
    }
    // The library's one call (hook, forward, backward of the class score, Grad-CAM) gives
    // the same, bit for bit: the same arithmetic in the same order.
    let (w_of, cam_of) = grad_cam_of(&model, &patch_image(), 1).unwrap();
    assert_eq!(
        w_of.to_vec::<f32>().unwrap(),
        weights.to_vec::<f32>().unwrap()
    );
    assert_eq!(cam_of.to_vec::<f32>().unwrap(), cam);
    assert!(grad_cam_of(&Sequential { layers: vec![] }, &patch_image(), 1).is_err());
}

#[test]
fn upsampling_and_colours_at_known_points() {
    let m = Tensor::from_slice(&[0.0f32, 1.0, 2.0, 3.0], &[2, 2]).unwrap();
    let up = upsample_bilinear(&m, 4, 4)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    // Pixel centres: output 0 reads input -0.25 (clamped to 0), output 1 reads 0.25.
    assert_eq!(up[0], 0.0);
    assert!(
        (up[1] - 0.25).abs() < 1e-6 && (up[3] - 1.0).abs() < 1e-6 && (up[15] - 3.0).abs() < 1e-6
    );
    assert!((up[5] - (0.25 + 2.0 * 0.25)).abs() < 1e-6);
    assert!(upsample_bilinear(&Tensor::zeros(&[3]), 4, 4).is_err());
    let (lo, hi) = (magma(0.0), magma(1.0));
    assert!(lo.iter().all(|&v| v < 0.02) && hi[0] > 0.95 && hi[1] > 0.95);
    let luminance = |c: [f32; 3]| 0.3 * c[0] + 0.59 * c[1] + 0.11 * c[2];
    assert!((1..=10)
        .all(|i| luminance(magma(i as f32 / 10.0)) > luminance(magma((i - 1) as f32 / 10.0))));
    assert!(grad_cam(&Tensor::zeros(&[2, 3, 3]), &Tensor::zeros(&[2, 3])).is_err());
}
