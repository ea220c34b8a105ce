//! Images for lesson 6's pets model: decoding, fastai's data augmentation as one resample
//! per image, batches of labelled images, test-time augmentation, and the pictures of a batch and
//! of the worst mistakes. Where the images come
//! from (a folder, the embedded shapes) is the `datasets` crate's.
mod heatmap;
mod image;
mod loader;
mod show;
mod transforms;
mod tta;

pub use self::image::{
    decode_image, load_image, rgb_tensor, save_jpeg, save_png, tensor_rgb, MAX_IMAGE_BYTES,
    MAX_IMAGE_PIXELS,
};
pub use heatmap::{activation_map, grad_cam, grad_cam_of, magma, overlay, upsample_bilinear};
pub use loader::{
    batch_stats, denormalize, normalize, normalize_batch, ImageData, LabelledImages, IMAGENET_STATS,
};
pub use show::{plot_batch, plot_top_losses};
pub use transforms::{check_size, grid_sample, Augment, Padding, Transforms, FLIP_LR, MAX_SIZE};
pub use tta::{tta, tta_augment, tta_blend, TTA_PASSES};
