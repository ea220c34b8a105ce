//! ResNet-34 (He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", 2015) as
//! torchvision builds it, with its parameter names (`conv1.weight`, `layer2.0.downsample.1.
//! running_mean`, `fc.bias`, ...): a 7x7 stride-2 stem and a 3x3 stride-2 max pool (224 ->
//! 56), then four stages of basic blocks, [3, 4, 6, 3] of them with 64, 128, 256 and 512
//! channels, each stage after the first halving the size (56 -> 28 -> 14 -> 7, or 352 -> 11
//! for the lesson's heat map), then average pooling and a linear classifier.
use crate::init::Init;
use crate::layers::{
    AdaptiveAvgPool2d, BatchNorm, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential,
};
use crate::module::{join, Entry, Mode, Module, Param};
use autograd::{Result, Var};
use tensor::Conv2dParams;

/// A convolution without bias (batch norm follows), initialised as torchvision does:
/// kaiming normal over the fan-out, N(0, 2 / (out k k)).
fn conv(
    init: &Init,
    inputs: usize,
    outputs: usize,
    kernel: usize,
    stride: usize,
) -> tensor::Result<Conv2d> {
    let shape = [outputs, inputs, kernel, kernel];
    Ok(Conv2d {
        weight: Param::new(init.kaiming_normal(&shape, outputs * kernel * kernel)?),
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
    pub fn new(init: &Init, inputs: usize, outputs: usize, stride: usize) -> tensor::Result<Self> {
        let downsample = if stride != 1 || inputs != outputs {
            Some(
                Sequential::new()
                    .push(conv(init, inputs, outputs, 1, stride)?)
                    .push(BatchNorm::new_2d(outputs)),
            )
        } else {
            None
        };
        Ok(BasicBlock {
            conv1: conv(init, inputs, outputs, 3, stride)?,
            bn1: BatchNorm::new_2d(outputs),
            conv2: conv(init, outputs, outputs, 3, 1)?,
            bn2: BatchNorm::new_2d(outputs),
            downsample,
        })
    }
}

impl Module for BasicBlock {
    fn forward(&self, x: &Var, mode: Mode) -> Result<Var> {
        let y = self
            .bn1
            .forward(&self.conv1.forward(x, mode)?, mode)?
            .relu()?;
        let y = self.bn2.forward(&self.conv2.forward(&y, mode)?, mode)?;
        let shortcut = match &self.downsample {
            Some(d) => d.forward(x, mode)?,
            None => x.clone(),
        };
        y.add(&shortcut)?.relu()
    }

    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'a>)) {
        self.conv1.visit(&join(prefix, "conv1"), f);
        self.bn1.visit(&join(prefix, "bn1"), f);
        self.conv2.visit(&join(prefix, "conv2"), f);
        self.bn2.visit(&join(prefix, "bn2"), f);
        if let Some(d) = &self.downsample {
            d.visit(&join(prefix, "downsample"), f);
        }
    }

    fn describe(&self) -> String {
        let s = self.conv1.weight.value().shape().to_vec();
        format!(
            "BasicBlock({} -> {}, stride {})",
            s[1], s[0], self.conv1.params.stride[0]
        )
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
}

/// ResNet-34: [3, 4, 6, 3] basic blocks; `classes` outputs (ImageNet: 1000).
pub fn resnet34(init: &Init, classes: usize) -> tensor::Result<ResNet> {
    let stages = [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)];
    let conv1 = conv(init, 3, 64, 7, 2)?;
    let mut inputs = 64;
    let mut layers: [Sequential; 4] = Default::default();
    for (layer, (outputs, blocks, stride)) in layers.iter_mut().zip(stages) {
        for b in 0..blocks {
            let block = BasicBlock::new(init, inputs, outputs, if b == 0 { stride } else { 1 })?;
            layer.layers.push(Box::new(block));
            inputs = outputs;
        }
    }
    Ok(ResNet {
        conv1,
        bn1: BatchNorm::new_2d(64),
        maxpool: MaxPool2d {
            kernel: 3,
            params: Conv2dParams::new(2, 1),
        },
        layers,
        avgpool: AdaptiveAvgPool2d { out: [1, 1] },
        fc: Linear::new(init, 512, classes, true)?,
    })
}

impl ResNet {
    /// The convolutional body, fastai's `create_body`: every child but the pooling and the
    /// classifier, as a `Sequential` (conv1, bn1, relu, maxpool, layer1 .. layer4, named
    /// `0` .. `7`). Its output for a 224 x 224 image is 512 x 7 x 7.
    pub fn into_body(self) -> Sequential {
        let [l1, l2, l3, l4] = self.layers;
        Sequential::new()
            .push(self.conv1)
            .push(self.bn1)
            .push(ReLU)
            .push(self.maxpool)
            .push(l1)
            .push(l2)
            .push(l3)
            .push(l4)
    }
}

impl Module for ResNet {
    fn forward(&self, x: &Var, mode: Mode) -> Result<Var> {
        let mut y = self
            .bn1
            .forward(&self.conv1.forward(x, mode)?, mode)?
            .relu()?;
        y = self.maxpool.forward(&y, mode)?;
        for layer in &self.layers {
            y = layer.forward(&y, mode)?;
        }
        let y = Flatten.forward(&self.avgpool.forward(&y, mode)?, mode)?;
        self.fc.forward(&y, mode)
    }

    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'a>)) {
        self.conv1.visit(&join(prefix, "conv1"), f);
        self.bn1.visit(&join(prefix, "bn1"), f);
        for (i, layer) in self.layers.iter().enumerate() {
            layer.visit(&join(prefix, &format!("layer{}", i + 1)), f);
        }
        self.fc.visit(&join(prefix, "fc"), f);
    }

    fn describe(&self) -> String {
        format!("ResNet({} classes)", self.fc.weight.value().shape()[0])
    }
}
