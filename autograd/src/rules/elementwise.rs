//! Backward rules of the element-wise ops. With y = f(a, b) computed element by element and
//! broadcast, dL/da = sum_to(dL/dy * df/da, shape of a): broadcasting read an input element
//! several times, so its gradient is the sum over those reads. Each rule saves only what its
//! derivative needs, and only for the inputs that need a gradient.
use crate::var::{record, scalar_like, sum_to, untracked, Var};
use crate::Result;
use tensor::random::Philox;
use tensor::Tensor;

impl Var {
    /// `self + rhs`, broadcasting.
    pub fn add(&self, rhs: &Var) -> Result<Var> {
        let (sa, sb) = (self.shape().to_vec(), rhs.shape().to_vec());
        let y = self.tensor().add(rhs.tensor())?;
        record("add", &[self, rhs], y, move |_, n, _| {
            let n = [n[0], n[1]];
            Box::new(move |g| {
                Ok(vec![
                    n[0].then(|| sum_to(g, &sa)).transpose()?,
                    n[1].then(|| sum_to(g, &sb)).transpose()?,
                ])
            })
        })
    }

    /// `self - rhs`, broadcasting.
    pub fn sub(&self, rhs: &Var) -> Result<Var> {
        let (sa, sb) = (self.shape().to_vec(), rhs.shape().to_vec());
        let y = self.tensor().sub(rhs.tensor())?;
        record("sub", &[self, rhs], y, move |_, n, _| {
            let n = [n[0], n[1]];
            Box::new(move |g| {
                Ok(vec![
                    n[0].then(|| sum_to(g, &sa)).transpose()?,
                    n[1].then(|| sum_to(&g.neg()?, &sb)).transpose()?,
                ])
            })
        })
    }

    /// `self * rhs`, broadcasting. Each operand is saved only if the other needs a gradient.
    pub fn mul(&self, rhs: &Var) -> Result<Var> {
        let (sa, sb) = (self.shape().to_vec(), rhs.shape().to_vec());
        let (a, b) = (self.tensor().clone(), rhs.tensor().clone());
        let y = a.mul(&b)?;
        record("mul", &[self, rhs], y, move |_, n, saved| {
            let b = n[0].then(|| saved.keep("b", b));
            let a = n[1].then(|| saved.keep("a", a));
            Box::new(move |g| {
                Ok(vec![
                    b.map(|b| sum_to(&g.mul(&b)?, &sa)).transpose()?,
                    a.map(|a| sum_to(&g.mul(&a)?, &sb)).transpose()?,
                ])
            })
        })
    }

    /// `self / rhs`, broadcasting: d/da = 1/b, d/db = -a/b² = -y/b.
    pub fn div(&self, rhs: &Var) -> Result<Var> {
        let (sa, sb) = (self.shape().to_vec(), rhs.shape().to_vec());
        let b = rhs.tensor().clone();
        let y = self.tensor().div(&b)?;
        record("div", &[self, rhs], y, move |y, n, saved| {
            let y = n[1].then(|| saved.keep("output", y.clone()));
            let b = saved.keep("b", b);
            let na = n[0];
            Box::new(move |g| {
                let ga = na.then(|| sum_to(&g.div(&b)?, &sa)).transpose()?;
                let gb = y
                    .map(|y| sum_to(&g.mul(&y)?.div(&b)?.neg()?, &sb))
                    .transpose()?;
                Ok(vec![ga, gb])
            })
        })
    }

    /// `self ^ rhs` element-wise: d/da = b a^(b-1), d/db = y ln a.
    pub fn pow(&self, rhs: &Var) -> Result<Var> {
        let (sa, sb) = (self.shape().to_vec(), rhs.shape().to_vec());
        let (a, b) = (self.tensor().clone(), rhs.tensor().clone());
        let y = a.pow(&b)?;
        record("pow", &[self, rhs], y, move |y, n, saved| {
            let (na, nb) = (n[0], n[1]);
            let (a, b) = (saved.keep("a", a), saved.keep("b", b));
            let y = saved.keep("output", y.clone());
            Box::new(move |g| {
                let ga = na
                    .then(|| sum_to(&g.mul(&b)?.mul(&a.pow(&b.add_scalar(-1.0)?)?)?, &sa))
                    .transpose()?;
                let gb = nb
                    .then(|| sum_to(&g.mul(&y)?.mul(&a.log()?)?, &sb))
                    .transpose()?;
                Ok(vec![ga, gb])
            })
        })
    }

    /// Element-wise maximum. The gradient goes to the larger input; on ties it is split
    /// evenly, as PyTorch does.
    pub fn maximum(&self, rhs: &Var) -> Result<Var> {
        self.extremum(rhs, "maximum", Tensor::maximum, Tensor::gt)
    }

    /// Element-wise minimum (ties split evenly, as PyTorch).
    pub fn minimum(&self, rhs: &Var) -> Result<Var> {
        self.extremum(rhs, "minimum", Tensor::minimum, Tensor::lt)
    }

    fn extremum(
        &self,
        rhs: &Var,
        op: &'static str,
        forward: fn(&Tensor, &Tensor) -> tensor::Result<Tensor>,
        wins: fn(&Tensor, &Tensor) -> tensor::Result<Tensor>,
    ) -> Result<Var> {
        let (sa, sb) = (self.shape().to_vec(), rhs.shape().to_vec());
        let (a, b) = (self.tensor().clone(), rhs.tensor().clone());
        let y = forward(&a, &b)?;
        record(op, &[self, rhs], y, move |_, n, saved| {
            let n = [n[0], n[1]];
            let (a, b) = (saved.keep("a", a), saved.keep("b", b));
            Box::new(move |g| {
                // Share of the gradient that goes to a: 1 where a wins, 1/2 on ties, else 0.
                let share_a = wins(&a, &b)?.add(&a.eq(&b)?.mul_scalar(0.5)?)?;
                let ga = n[0].then(|| sum_to(&g.mul(&share_a)?, &sa)).transpose()?;
                let gb = n[1]
                    .then(|| sum_to(&g.mul(&share_a.affine(-1.0, 1.0)?)?, &sb))
                    .transpose()?;
                Ok(vec![ga, gb])
            })
        })
    }

    /// `on_true` where `self` (a mask) is non-zero, else `on_false`. No gradient flows to the
    /// mask.
    pub fn where_cond(&self, on_true: &Var, on_false: &Var) -> Result<Var> {
        let (st, sf) = (on_true.shape().to_vec(), on_false.shape().to_vec());
        let mask = self.tensor().clone();
        let y = mask.where_cond(on_true.tensor(), on_false.tensor())?;
        record(
            "where_cond",
            &[self, on_true, on_false],
            y,
            move |_, n, saved| {
                let n = [n[1], n[2]];
                let mask = saved.keep("mask", mask);
                Box::new(move |g| {
                    let zero = scalar_like(0.0, g)?;
                    let gt = n[0]
                        .then(|| sum_to(&mask.where_cond(g, &zero)?, &st))
                        .transpose()?;
                    let gf = n[1]
                        .then(|| sum_to(&mask.where_cond(&zero, g)?, &sf))
                        .transpose()?;
                    Ok(vec![None, gt, gf])
                })
            },
        )
    }
}

/// Unary ops whose derivative is a function of the output y (saved) or of the input x.
macro_rules! unary_rules {
    ($($(#[$doc:meta])* $name:ident: $save:ident => |$g:ident, $s:ident| $grad:expr;)*) => {
        impl Var {
            $(
                $(#[$doc])*
                pub fn $name(&self) -> Result<Var> {
                    let x = self.tensor().clone();
                    let y = x.$name()?;
                    record(stringify!($name), &[self], y, move |y, _, saved| {
                        let $s = unary_rules!(@save $save, x, y, saved);
                        Box::new(move |$g: &Tensor| Ok(vec![Some($grad)]))
                    })
                }
            )*
        }
    };
    (@save output, $x:ident, $y:ident, $saved:ident) => {
        $saved.keep("output", $y.clone())
    };
    (@save input, $x:ident, $y:ident, $saved:ident) => {{
        let _ = $y;
        $saved.keep("input", $x)
    }};
}

unary_rules! {
    /// e^x; d/dx = y.
    exp: output => |g, y| g.mul(&y)?;
    /// ln x; d/dx = 1/x.
    log: input => |g, x| g.div(&x)?;
    /// σ(x); d/dx = y(1 - y).
    sigmoid: output => |g, y| g.mul(&y.mul(&y.affine(-1.0, 1.0)?)?)?;
    /// tanh x; d/dx = 1 - y².
    tanh: output => |g, y| g.mul(&y.sqr()?.affine(-1.0, 1.0)?)?;
    /// max(x, 0); d/dx = [y > 0]. Keeps the output, not the input: the mask is read off it.
    relu: output => |g, y| g.relu_backward(&y)?;
    /// √x; d/dx = 1/(2y).
    sqrt: output => |g, y| g.div(&y.mul_scalar(2.0)?)?;
    /// |x|; d/dx = sign(x) (0 at 0, as PyTorch).
    abs: input => |g, x| {
        let zero = scalar_like(0.0, &x)?;
        g.mul(&x.gt(&zero)?.sub(&x.lt(&zero)?)?)?
    };
    /// x²; d/dx = 2x.
    sqr: input => |g, x| g.mul(&x.mul_scalar(2.0)?)?;
    /// 1/x; d/dx = -y².
    recip: output => |g, y| g.mul(&y.sqr()?)?.neg()?;
}

impl Var {
    /// x^e; d/dx = e x^(e-1).
    pub fn powf(&self, e: f32) -> Result<Var> {
        let x = self.tensor().clone();
        let y = x.powf(e)?;
        record("powf", &[self], y, move |_, _, saved| {
            let x = saved.keep("input", x);
            Box::new(move |g| Ok(vec![Some(g.mul(&x.powf(e - 1.0)?.mul_scalar(e)?)?)]))
        })
    }

    /// -x; d/dx = -1: the rule keeps nothing.
    pub fn neg(&self) -> Result<Var> {
        let y = self.tensor().neg()?;
        record("neg", &[self], y, move |_, _, _| {
            Box::new(move |g| Ok(vec![Some(g.neg()?)]))
        })
    }

    /// `x * mul + add`; d/dx = mul.
    pub fn affine(&self, mul: f32, add: f32) -> Result<Var> {
        let y = self.tensor().affine(mul, add)?;
        record("affine", &[self], y, move |_, _, _| {
            Box::new(move |g| Ok(vec![Some(g.mul_scalar(mul)?)]))
        })
    }

    /// `x + value`.
    pub fn add_scalar(&self, value: f32) -> Result<Var> {
        self.affine(1.0, value)
    }

    /// `x * value`.
    pub fn mul_scalar(&self, value: f32) -> Result<Var> {
        self.affine(value, 0.0)
    }

    /// Inverted dropout (keep with probability 1 - p, scale by 1 / (1 - p)) with the mask of
    /// `rng`. The rule saves nothing: the mask is a pure function of the stream, so the
    /// gradient is the dropout of the gradient with the same stream.
    pub fn dropout(&self, p: f32, rng: Philox) -> Result<Var> {
        let y = self.tensor().dropout(p, rng)?;
        record("dropout", &[self], y, move |_, _, _| {
            Box::new(move |g| Ok(vec![Some(g.dropout(p, rng)?)]))
        })
    }

    /// Clamps into `[min, max]`; the gradient passes where x is inside (PyTorch's rule).
    pub fn clamp(&self, min: f32, max: f32) -> Result<Var> {
        let x = self.tensor().clone();
        let y = x.clamp(min, max)?;
        record("clamp", &[self], y, move |_, _, saved| {
            let x = saved.keep("input", x);
            Box::new(move |g| {
                let (lo, hi) = (scalar_like(min, &x)?, scalar_like(max, &x)?);
                let inside = x.ge(&lo)?.mul(&x.le(&hi)?)?;
                Ok(vec![Some(g.mul(&inside)?)])
            })
        })
    }
}

macro_rules! comparisons {
    ($($(#[$doc:meta])* $name:ident;)*) => {
        impl Var {
            $(
                $(#[$doc])*
                pub fn $name(&self, rhs: &Var) -> Result<Var> {
                    untracked(stringify!($name), &[self, rhs], self.tensor().$name(rhs.tensor())?)
                }
            )*
        }
    };
}

comparisons! {
    /// Mask of `self == rhs` (no gradient flows through a comparison).
    eq;
    /// Mask of `self != rhs`.
    ne;
    /// Mask of `self < rhs`.
    lt;
    /// Mask of `self <= rhs`.
    le;
    /// Mask of `self > rhs`.
    gt;
    /// Mask of `self >= rhs`.
    ge;
}
