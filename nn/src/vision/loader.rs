//! Batches of augmented images for the [`crate::learner::Learner`] (fastai's `DataBunch`
//! for images): each training batch decodes and augments its images in parallel (rayon),
//! on a thread of its own that prepares the next batch while the model trains on this one;
//! the order is a seeded shuffle per epoch, and each image of each epoch draws its own
//! transform from its own Philox stream, so a run is reproducible. Batches are normalised
//! with ImageNet's statistics, as the pretrained body expects. An image that cannot be read
//! is left out of its batch and counted, with a warning naming it, never a crash; a batch of
//! which no image could be read is an error.
use super::{load_image, Augment, Padding, Transforms};
use crate::learner::{permutation, Batch, DataBunch, Rows};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::Arc;
use tensor::random::Philox;
use tensor::Tensor;

/// ImageNet's per-channel mean and standard deviation (fastai's `imagenet_stats`).
pub const IMAGENET_STATS: ([f32; 3], [f32; 3]) = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);

/// `img` (`[3, H, W]`) normalised per channel with `stats` (mean, std): `(x - mean) / std`,
/// as fastai's `normalize(imagenet_stats)`, flat in CHW order. Another shape is an error.
pub fn normalize(img: &Tensor, stats: ([f32; 3], [f32; 3])) -> tensor::Result<Vec<f32>> {
    let shape = img.shape();
    if shape.len() != 3 || shape[0] != 3 {
        return Err(tensor::Error::Shape {
            op: "normalize",
            shapes: vec![shape.to_vec()],
            expected: "an RGB image [3, H, W]",
        });
    }
    let (mean, std) = stats;
    let v = img.to_vec::<f32>()?;
    Ok(v.chunks_exact((shape[1] * shape[2]).max(1))
        .enumerate()
        .flat_map(|(c, chunk)| chunk.iter().map(move |&x| (x - mean[c]) / std[c]))
        .collect())
}

/// Undoes the normalisation of a batch of images `[N, 3, H, W]` by `stats` (mean, std):
/// `x * std + mean` per channel (fastai's `denormalize`).
pub fn denormalize(batch: &Tensor, stats: ([f32; 3], [f32; 3])) -> tensor::Result<Tensor> {
    rgb_batch("denormalize", batch)?;
    let shape = batch.shape().to_vec();
    let plane = shape[2] * shape[3];
    let mut v = batch.to_vec::<f32>()?;
    for (k, chunk) in v.chunks_exact_mut(plane).enumerate() {
        let c = k % 3;
        chunk
            .iter_mut()
            .for_each(|x| *x = *x * stats.1[c] + stats.0[c]);
    }
    Tensor::from_vec(v, &shape)
}

/// The checked `[N, 3, H, W]` shape of a batch of RGB images for `op`.
fn rgb_batch(op: &'static str, batch: &Tensor) -> tensor::Result<()> {
    match batch.shape() {
        [_, 3, _, _] => Ok(()),
        s => Err(tensor::Error::Shape {
            op,
            shapes: vec![s.to_vec()],
            expected: "a batch of RGB images [N, 3, H, W]",
        }),
    }
}

/// Each channel's mean and (biased) standard deviation over a batch of images `[N, 3, H,
/// W]`: the statistics to normalise a data set by when it is not ImageNet-like (fastai's
/// `normalize()` with no argument takes them from a batch).
pub fn batch_stats(batch: &Tensor) -> tensor::Result<([f32; 3], [f32; 3])> {
    rgb_batch("batch_stats", batch)?;
    let per_channel = batch
        .permute(&[1, 0, 2, 3])?
        .contiguous()?
        .reshape(&[3, batch.elem_count() / 3])?;
    let mean = per_channel.mean(&[1], false)?.to_vec::<f32>()?;
    let std = per_channel
        .var(&[1], false, false)?
        .sqrt()?
        .to_vec::<f32>()?;
    Ok((
        [mean[0], mean[1], mean[2]],
        [std[0], std[1], std[2]].map(|s| s.max(1e-6)),
    ))
}

/// A batch of images `[N, 3, H, W]` normalised per channel by `stats` (mean, std):
/// `(x - mean) / std`, what [`denormalize`] undoes.
pub fn normalize_batch(
    batch: &Tensor,
    (mean, std): ([f32; 3], [f32; 3]),
) -> tensor::Result<Tensor> {
    rgb_batch("normalize_batch", batch)?;
    let channels = |v: &[f32; 3]| Tensor::from_slice(v, &[1, 3, 1, 1]);
    batch.sub(&channels(&mean)?)?.div(&channels(&std)?)
}

/// Labelled images split into training and validation: what [`ImageData`] batches.
pub struct LabelledImages {
    /// (path, class index) of every image.
    pub items: Vec<(PathBuf, usize)>,
    /// Class names, by class index.
    pub classes: Vec<String>,
    /// Indices into `items`.
    pub train: Vec<usize>,
    pub valid: Vec<usize>,
}

/// What every batch is made of; shared with the thread that prepares training batches.
#[derive(Clone)]
struct Source {
    items: Vec<(PathBuf, usize)>,
    train: Vec<usize>,
    valid: Vec<usize>,
    tfms: Transforms,
    size: usize,
    padding: Padding,
    bs: usize,
    seed: u64,
    stats: ([f32; 3], [f32; 3]),
    /// Images left out because they could not be read, shared by resized copies.
    skipped: Arc<AtomicUsize>,
}

impl Source {
    /// The transform of the training image at `position` of `epoch`'s order: each image of
    /// each epoch draws its own from its own Philox stream.
    fn train_augment(&self, epoch: usize, position: usize) -> Augment {
        let stream = (epoch * self.train.len() + position) as u64;
        self.tfms.draw(Philox::new(self.seed ^ 0x7e57, stream))
    }

    /// The image at `path`, decoded and transformed by `augment` to this data's size.
    fn read(&self, path: &Path, augment: &Augment) -> crate::Result<Tensor> {
        Ok(augment.apply(&load_image(path)?, self.size, self.padding)?)
    }

    /// Decodes, transforms, stacks and normalises the images `rows` of `items`; `draw(i)`
    /// gives the transform of the i-th image of the batch. An image that cannot be read is
    /// left out, counted and named in a warning; a batch with none left is an error (naming
    /// how many failed and the first reason), never an empty batch that averages to NaN.
    fn batch(
        &self,
        rows: &[usize],
        draw: impl Fn(usize) -> Augment + Sync,
    ) -> crate::Result<Batch> {
        let read: Vec<crate::Result<(Tensor, usize)>> = rows
            .par_iter()
            .enumerate()
            .map(|(i, &r)| {
                let (path, label) = &self.items[r];
                self.read(path, &draw(i)).map(|t| (t, *label))
            })
            .collect();
        let mut images = Vec::with_capacity(read.len());
        let mut first_failure = None;
        for r in read {
            match r {
                Ok(image) => images.push(image),
                Err(e) => {
                    self.skipped.fetch_add(1, Ordering::Relaxed);
                    eprintln!("warning: skipping an image: {e}");
                    first_failure.get_or_insert(e);
                }
            }
        }
        if images.is_empty() {
            return Err(crate::Error::NoImageRead {
                images: rows.len(),
                first: first_failure.map(Box::new),
            });
        }
        let mut data = Vec::with_capacity(images.len() * 3 * self.size * self.size);
        for (img, _) in &images {
            data.extend(normalize(img, self.stats)?);
        }
        let n = images.len();
        let labels: Vec<i64> = images.iter().map(|&(_, l)| l as i64).collect();
        Ok(Batch {
            inputs: vec![Tensor::from_vec(data, &[n, 3, self.size, self.size])?],
            target: Tensor::from_indices(&labels, &[n])?,
        })
    }
}

/// Training and validation batches of labelled images.
pub struct ImageData {
    source: Arc<Source>,
    pub classes: Vec<String>,
}

impl ImageData {
    /// Batches of `bs` images of `size` x `size` from `images`: training images augmented by
    /// `tfms` (out-of-image points filled by `padding`), validation images centre-cropped.
    pub fn new(
        images: &LabelledImages,
        tfms: Transforms,
        size: usize,
        padding: Padding,
        bs: usize,
        seed: u64,
    ) -> Self {
        ImageData {
            source: Arc::new(Source {
                items: images.items.clone(),
                train: images.train.clone(),
                valid: images.valid.clone(),
                tfms,
                size,
                padding,
                bs: bs.max(1),
                seed,
                stats: IMAGENET_STATS,
                skipped: Arc::new(AtomicUsize::new(0)),
            }),
            classes: images.classes.clone(),
        }
    }

    /// The same images at another size (the lesson's second stage at 352).
    pub fn resized(&self, size: usize, bs: usize) -> Self {
        ImageData {
            source: Arc::new(Source {
                size,
                bs: bs.max(1),
                ..Source::clone(&self.source)
            }),
            classes: self.classes.clone(),
        }
    }

    /// The side of the square images the batches hold.
    pub fn size(&self) -> usize {
        self.source.size
    }

    /// The per-channel (mean, std) the batches are normalised with.
    pub fn stats(&self) -> ([f32; 3], [f32; 3]) {
        self.source.stats
    }

    /// The transforms training images are drawn from.
    pub fn transforms(&self) -> &Transforms {
        &self.source.tfms
    }

    /// The seed of the shuffles and the drawn transforms.
    pub fn seed(&self) -> u64 {
        self.source.seed
    }

    /// The index into the items (of [`LabelledImages`]) and the transform of the image at
    /// `position` of training `epoch`'s shuffled order: what [`DataBunch::train`] batches.
    pub fn train_item(&self, epoch: usize, position: usize) -> Option<(usize, Augment)> {
        let s = &self.source;
        let order = permutation(s.train.len(), s.seed, 2 * epoch as u64);
        let &i = order.get(position)?;
        Some((s.train[i as usize], s.train_augment(epoch, position)))
    }

    /// The validation batches with validation image `i` transformed by `draw(i)` instead of
    /// the centre crop (test-time augmentation), in order.
    pub fn valid_with<'a>(
        &'a self,
        draw: impl Fn(usize) -> Augment + Sync + 'a,
    ) -> impl Iterator<Item = crate::Result<Batch>> + 'a {
        let s = &self.source;
        (s.valid.chunks(s.bs).enumerate())
            .map(move |(b, rows)| s.batch(rows, |i| draw(b * s.bs + i)))
    }

    /// fastai's `data.show_batch`: the first `n` images of the first training batch, as
    /// the model sees them after augmentation, brought back to RGB in [0, 1]
    /// ([`denormalize`]), each `[3, size, size]` with its class name.
    pub fn show_batch(&self, n: usize) -> crate::Result<Vec<(Tensor, String)>> {
        let batch = self.train(0).next().ok_or_else(|| {
            crate::Error::Invalid(format!(
                "no full training batch to show: {} training images, batches of {}",
                self.source.train.len(),
                self.source.bs
            ))
        })??;
        let images = denormalize(&batch.inputs[0], self.source.stats)?;
        let labels = batch.target.to_vec::<i64>()?;
        let s = self.source.size;
        (labels.iter().take(n).enumerate())
            .map(|(i, &l)| {
                let image = images.narrow(0, i, 1)?.reshape(&[3, s, s])?;
                Ok((image, self.classes[l as usize].clone()))
            })
            .collect()
    }

    /// Images left out so far because they could not be read (by this data and its resized
    /// copies).
    pub fn skipped(&self) -> usize {
        self.source.skipped.load(Ordering::Relaxed)
    }

    /// The validation image `i`, centre-cropped and not normalised (for pictures).
    pub fn valid_image(&self, i: usize) -> crate::Result<(Tensor, usize)> {
        let s = &self.source;
        let &r = s.valid.get(i).ok_or_else(|| {
            crate::Error::Invalid(format!(
                "no validation image {i}: there are {}",
                s.valid.len()
            ))
        })?;
        let (path, label) = &s.items[r];
        Ok((s.read(path, &Augment::centre())?, *label))
    }
}

impl DataBunch for ImageData {
    fn train(&self, epoch: usize) -> Box<dyn Iterator<Item = crate::Result<Batch>> + '_> {
        let source = Arc::clone(&self.source);
        // Two batches ahead at most: one being built while the model trains on the other.
        let (send, receive) = sync_channel(1);
        std::thread::spawn(move || {
            let s = &source;
            let order = permutation(s.train.len(), s.seed, 2 * epoch as u64);
            for (b, rows) in order.chunks_exact(s.bs).enumerate() {
                let rows: Vec<usize> = rows.iter().map(|&i| s.train[i as usize]).collect();
                let batch = s.batch(&rows, |i| s.train_augment(epoch, b * s.bs + i));
                if send.send(batch).is_err() {
                    return;
                }
            }
        });
        Box::new(receive.into_iter())
    }

    fn valid(&self) -> Box<dyn Iterator<Item = crate::Result<Batch>> + '_> {
        Box::new(self.valid_with(|_| Augment::centre()))
    }

    fn classes(&self) -> Option<&[String]> {
        Some(&self.classes)
    }

    fn rows(&self) -> Rows {
        let s = &self.source;
        Rows {
            train: s.train.len(),
            valid: s.valid.len(),
            bs: s.bs,
        }
    }
}
