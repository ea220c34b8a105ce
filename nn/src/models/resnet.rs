//! ResNet-34 (He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", 2015) as
//! torchvision builds it, with its parameter names (`conv1.weight`, `layer2.0.downsample.1.
//! running_mean`, `fc.bias`, ...): a 7x7 stride-2 stem and a 3x3 stride-2 max pool (224 ->
//! 56), then four stages of basic blocks, [3, 4, 6, 3] of them with 64, 128, 256 and 512
//! channels, each stage after the first halving the size (56 -> 28 -> 14 -> 7, or 352 -> 11
//! for the lesson's heat map), then average pooling and a linear classifier.
use crate::layers::{
    AdaptiveAvgPool2d, BatchNorm, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential,
};
use crate::module::{Mode, Module};
use crate::vars::Path;
use autograd::{Result, Var};
use std::fmt;
use tensor::Conv2dParams;

/// A convolution without bias (batch norm follows), initialised as torchvision does:
/// kaiming normal over the fan-out, N(0, 2 / (out k k)).
fn conv(
    p: Path,
    inputs: usize,
    outputs: usize,
    kernel: usize,
    stride: usize,
) -> crate::Result<Conv2d> {
    let shape = [outputs, inputs, kernel, kernel];
    let weight = p.init().kaiming_normal(&shape, outputs * kernel * kernel)?;
    Ok(Conv2d {
        weight: p.param("weight", weight)?,
        bias: None,
        params: Conv2dParams::new(stride, kernel / 2),
    })
}

/// Two 3x3 convolutions with batch norm and a shortcut: `relu(bn2(conv2(relu(bn1(conv1(x)))))
/// + shortcut(x))`, where the shortcut is the identity, or a strided 1x1 convolution with batch
/// norm (`downsample`) when the block changes the size or the channels.
pub struct BasicBlock {
    pub conv1: Conv2d,
    pub bn1: BatchNorm,
    pub conv2: Conv2d,
    pub bn2: BatchNorm,
    pub downsample: Option<Sequential>,
}

impl BasicBlock {
    pub fn new(p: Path, inputs: usize, outputs: usize, stride: usize) -> crate::Result<Self> {
        let conv1 = conv(p.pp("conv1"), inputs, outputs, 3, stride)?;
        let bn1 = BatchNorm::new_2d(p.pp("bn1"), outputs)?;
        let conv2 = conv(p.pp("conv2"), outputs, outputs, 3, 1)?;
        let bn2 = BatchNorm::new_2d(p.pp("bn2"), outputs)?;
        let downsample = if stride != 1 || inputs != outputs {
            let d = p.pp("downsample");
            Some(
                Sequential::new()
                    .push(conv(d.pp(0), inputs, outputs, 1, stride)?)
                    .push(BatchNorm::new_2d(d.pp(1), outputs)?),
            )
        } else {
            None
        };
        Ok(BasicBlock {
            conv1,
            bn1,
            conv2,
            bn2,
            downsample,
        })
    }
}

impl Module<Var> for BasicBlock {
    type Output = Var;
    fn forward(&self, x: Var, mode: Mode) -> Result<Var> {
        let y = self.conv1.forward(x.clone(), mode)?;
        let y = self.bn1.forward(y, mode)?.relu()?;
        let y = self.bn2.forward(self.conv2.forward(y, mode)?, mode)?;
        let shortcut = match &self.downsample {
            Some(d) => d.forward(x, mode)?,
            None => x,
        };
        y.add(&shortcut)?.relu()
    }
}

impl fmt::Display for BasicBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.conv1.weight.value().shape().to_vec();
        let stride = self.conv1.params.stride[0];
        write!(f, "BasicBlock({} -> {}, stride {stride})", s[1], s[0])
    }
}

/// torchvision's `ResNet` with basic blocks.
pub struct ResNet {
    pub conv1: Conv2d,
    pub bn1: BatchNorm,
    pub maxpool: MaxPool2d,
    /// `layer1` .. `layer4`.
    pub layers: [Sequential; 4],
    pub avgpool: AdaptiveAvgPool2d,
    pub fc: Linear,
    /// Where it was built, so that [`ResNet::into_body`] can rename its parameters.
    path: Path,
}

/// ResNet-34: [3, 4, 6, 3] basic blocks; `classes` outputs (ImageNet: 1000).
pub fn resnet34(p: Path, classes: usize) -> crate::Result<ResNet> {
    let stages = [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)];
    let conv1 = conv(p.pp("conv1"), 3, 64, 7, 2)?;
    let bn1 = BatchNorm::new_2d(p.pp("bn1"), 64)?;
    let mut inputs = 64;
    let mut layers: [Sequential; 4] = Default::default();
    for (i, (layer, (outputs, blocks, stride))) in layers.iter_mut().zip(stages).enumerate() {
        let stage = p.pp(format!("layer{}", i + 1));
        for b in 0..blocks {
            let stride = if b == 0 { stride } else { 1 };
            let block = BasicBlock::new(stage.pp(b), inputs, outputs, stride)?;
            layer.layers.push(Box::new(block));
            inputs = outputs;
        }
    }
    Ok(ResNet {
        conv1,
        bn1,
        maxpool: MaxPool2d {
            kernel: 3,
            params: Conv2dParams::new(2, 1),
        },
        layers,
        avgpool: AdaptiveAvgPool2d { out: [1, 1] },
        fc: Linear::new(p.pp("fc"), 512, classes, true)?,
        path: p,
    })
}

/// torchvision's children of a ResNet, in order: the body is every one of them up to
/// `layer4` (the pooling and the classifier are not in it).
const CHILDREN: [&str; 8] = [
    "conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4",
];

impl ResNet {
    /// Where it was built.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The convolutional body, fastai's `create_body`: every child but the pooling and the
    /// classifier, as a `Sequential` at `at` (conv1, bn1, relu, maxpool, layer1 .. layer4,
    /// named `at.0` .. `at.7`: `layer1.0.conv1.weight` becomes `at.4.0.conv1.weight`, the
    /// classifier's parameters leave the model). Its output for a 224 x 224 image is
    /// 512 x 7 x 7.
    pub fn into_body(self, at: &Path) -> crate::Result<Sequential> {
        self.path.vars().rename(|name| {
            let Some(rest) = self.path.strip(name) else {
                return Some(name.to_string()); // not the ResNet's
            };
            let (child, rest) = rest.split_once('.')?;
            let i = CHILDREN.iter().position(|c| *c == child)?; // `fc` is left out
            Some(format!("{}.{rest}", at.pp(i).name()))
        })?;
        let [l1, l2, l3, l4] = self.layers;
        Ok(Sequential::new()
            .push(self.conv1)
            .push(self.bn1)
            .push(ReLU)
            .push(self.maxpool)
            .push(l1)
            .push(l2)
            .push(l3)
            .push(l4))
    }
}

impl Module<Var> for ResNet {
    type Output = Var;
    fn forward(&self, x: Var, mode: Mode) -> Result<Var> {
        let y = self
            .bn1
            .forward(self.conv1.forward(x, mode)?, mode)?
            .relu()?;
        let mut y = self.maxpool.forward(y, mode)?;
        for layer in &self.layers {
            y = layer.forward(y, mode)?;
        }
        let y = Flatten.forward(self.avgpool.forward(y, mode)?, mode)?;
        self.fc.forward(y, mode)
    }
}

impl fmt::Display for ResNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResNet({} classes)", self.fc.weight.value().shape()[0])
    }
}
