//! Images for lesson 6's pets model: decoding, the labelled folder dataset, fastai's data
//! augmentation as one resample per image, and batches.
mod dataset;
mod heatmap;
mod image;
mod loader;
mod shapes;
mod transforms;

pub use self::image::{
    decode_image, load_image, rgb_tensor, save_jpeg, save_png, tensor_rgb, MAX_IMAGE_BYTES,
    MAX_IMAGE_PIXELS,
};
pub use dataset::{ImageFolder, PETS_PATTERN};
pub use heatmap::{activation_map, grad_cam, magma, overlay, upsample_bilinear};
pub use loader::{ImageData, IMAGENET_STATS};
pub use shapes::{draw_shape, write_shapes, SHAPES};
pub use transforms::{check_size, grid_sample, Augment, Padding, Transforms, MAX_SIZE};
