//! The path builder: a model's parameters and buffers are named where its layers are built,
//! in the order and with the names of PyTorch's `state_dict()`; a name registered twice is
//! an error, not a silent overwrite.
use nn::layers::{BatchNorm, Linear, ReLU, Sequential};
use nn::models::resnet34;
use nn::state_dict::state_dict;
use nn::{Error, Vars};

fn names(vars: &Vars) -> Vec<String> {
    state_dict(vars).into_iter().map(|(n, _)| n).collect()
}

#[test]
fn names_and_order_follow_pytorch() {
    // nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.BatchNorm1d(4),
    //               nn.Sequential(nn.Linear(4, 2, bias=False))).state_dict().keys()
    let vars = Vars::new(0);
    let p = vars.root();
    // Built in PyTorch's order, each layer at its index.
    let _model = Sequential::new()
        .push(Linear::new(p.pp(0), 3, 4, true).unwrap())
        .push(ReLU)
        .push(BatchNorm::new_1d(p.pp(2), 4).unwrap())
        .push(Sequential::new().push(Linear::new(p.pp(3).pp(0), 4, 2, false).unwrap()));
    assert_eq!(
        names(&vars),
        [
            "0.weight",
            "0.bias",
            "2.weight",
            "2.bias",
            "2.running_mean",
            "2.running_var",
            "2.num_batches_tracked",
            "3.0.weight"
        ]
    );
    let params: Vec<String> = vars.params().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        params,
        ["0.weight", "0.bias", "2.weight", "2.bias", "3.0.weight"]
    );
    assert_eq!(vars.param_count(), 4 * 3 + 4 + 4 + 4 + 2 * 4);
}

#[test]
fn resnet34_is_in_torchvisions_order() {
    let vars = Vars::new(0);
    resnet34(vars.root(), 1000).unwrap();
    let names = names(&vars);
    let at = |name: &str| names.iter().position(|n| n == name).unwrap();
    assert_eq!(names[..2], ["conv1.weight", "bn1.weight"]);
    assert_eq!(
        at("bn1.num_batches_tracked") + 1,
        at("layer1.0.conv1.weight")
    );
    // A block's shortcut comes after its second batch norm.
    assert_eq!(
        at("layer2.0.bn2.num_batches_tracked") + 1,
        at("layer2.0.downsample.0.weight")
    );
    assert_eq!(names[names.len() - 2..], ["fc.weight", "fc.bias"]);
}

#[test]
fn a_name_registered_twice_is_an_error() {
    let vars = Vars::new(0);
    Linear::new(vars.root().pp(0), 3, 4, true).unwrap();
    let err = Linear::new(vars.root().pp(0), 3, 4, true).err().unwrap();
    assert!(
        matches!(&err, Error::DuplicateName(name) if name == "0.weight"),
        "{err}"
    );
    assert!(err.to_string().contains("`0.weight` is registered twice"));
    assert_eq!(names(&vars), ["0.weight", "0.bias"], "the first is kept");
}
