//! A layout says where each element of a tensor lives in its storage: element `[i0, i1, ...]`
//! is at `offset + i0 * strides[0] + i1 * strides[1] + ...`. Every view (reshape, permute,
//! narrow, expand, unsqueeze, squeeze) is a new layout over the same storage: no data moves.
//! A stride of 0 repeats an element, which is how `expand` broadcasts without copying.
use crate::{Error, Result};

/// Shape, strides (in elements) and offset of a tensor in its storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    shape: Vec<usize>,
    strides: Vec<usize>,
    offset: usize,
}

/// Row-major ("C order") strides for a shape: the last dimension moves fastest.
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; shape.len()];
    let mut acc = 1;
    for (s, &d) in strides.iter_mut().zip(shape).rev() {
        *s = acc;
        acc *= d;
    }
    strides
}

/// Checks that `dim` names a dimension of a `rank`-dimensional tensor.
pub(crate) fn check_dim(op: &'static str, dim: usize, shape: &[usize]) -> Result<()> {
    if dim < shape.len() {
        Ok(())
    } else {
        Err(Error::Dim {
            op,
            dim,
            shape: shape.to_vec(),
        })
    }
}

/// `[outer, size, inner]`: `shape` seen as `[prod(before dim), shape[dim], prod(after dim)]`,
/// how the ops along one dimension (index, cat) walk it.
pub(crate) fn around(shape: &[usize], dim: usize) -> [usize; 3] {
    [
        shape[..dim].iter().product(),
        shape[dim],
        shape[dim + 1..].iter().product(),
    ]
}

impl Layout {
    /// The row-major layout of a fresh tensor of this shape.
    pub fn contiguous(shape: &[usize]) -> Self {
        Layout {
            shape: shape.to_vec(),
            strides: contiguous_strides(shape),
            offset: 0,
        }
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    pub fn strides(&self) -> &[usize] {
        &self.strides
    }
    pub fn offset(&self) -> usize {
        self.offset
    }
    pub fn rank(&self) -> usize {
        self.shape.len()
    }
    pub fn elem_count(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when the elements are stored in row-major order with no gaps, so that the tensor's
    /// data is the slice `storage[offset .. offset + elem_count]`. Dimensions of size 1 may
    /// have any stride.
    pub fn is_contiguous(&self) -> bool {
        let mut acc = 1;
        for (&d, &s) in self.shape.iter().zip(&self.strides).rev() {
            if d != 1 && s != acc {
                return false;
            }
            acc *= d;
        }
        true
    }

    /// One past the largest storage index this layout touches (0 for an empty tensor): the
    /// storage must hold at least this many elements.
    pub fn storage_span(&self) -> usize {
        if self.shape.contains(&0) {
            return 0;
        }
        self.offset
            + 1
            + self
                .shape
                .iter()
                .zip(&self.strides)
                .map(|(&d, &s)| (d - 1) * s)
                .sum::<usize>()
    }

    /// Reinterprets contiguous data with a new shape of the same element count.
    pub fn reshape(&self, shape: &[usize]) -> Result<Self> {
        let n: usize = shape.iter().product();
        if n != self.elem_count() {
            return Err(Error::ElementCount {
                op: "reshape",
                shape: shape.to_vec(),
                elements: self.elem_count(),
            });
        }
        if !self.is_contiguous() {
            return Err(Error::NotContiguous {
                op: "reshape",
                shape: self.shape.clone(),
                strides: self.strides.clone(),
            });
        }
        Ok(Layout {
            shape: shape.to_vec(),
            strides: contiguous_strides(shape),
            offset: self.offset,
        })
    }

    /// Reorders the dimensions: dimension `i` of the result is dimension `dims[i]` of `self`.
    pub fn permute(&self, dims: &[usize]) -> Result<Self> {
        let rank = self.rank();
        let mut seen = vec![false; rank];
        let valid = dims.len() == rank
            && dims
                .iter()
                .all(|&d| d < rank && !std::mem::replace(&mut seen[d], true));
        if !valid {
            return Err(Error::shapes(
                "permute",
                &[dims, &self.shape],
                "a permutation of the dimensions of the shape",
            ));
        }
        Ok(Layout {
            shape: dims.iter().map(|&d| self.shape[d]).collect(),
            strides: dims.iter().map(|&d| self.strides[d]).collect(),
            offset: self.offset,
        })
    }

    /// Swaps two dimensions.
    pub fn transpose(&self, a: usize, b: usize) -> Result<Self> {
        check_dim("transpose", a, &self.shape)?;
        check_dim("transpose", b, &self.shape)?;
        let mut dims: Vec<usize> = (0..self.rank()).collect();
        dims.swap(a, b);
        self.permute(&dims)
    }

    /// Keeps `len` positions of dimension `dim`, starting at `start`.
    pub fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Self> {
        check_dim("narrow", dim, &self.shape)?;
        let size = self.shape[dim];
        if start.checked_add(len).is_none_or(|end| end > size) {
            return Err(Error::Range {
                op: "narrow",
                start,
                end: start.saturating_add(len),
                dim,
                shape: self.shape.clone(),
            });
        }
        let mut shape = self.shape.clone();
        shape[dim] = len;
        let offset = if len == 0 {
            self.offset
        } else {
            self.offset + start * self.strides[dim]
        };
        Ok(Layout {
            shape,
            strides: self.strides.clone(),
            offset,
        })
    }

    /// Broadcasts to `shape` without copying: new leading dimensions and dimensions of size 1
    /// get stride 0, so each stored element is read many times (PyTorch's `expand`).
    pub fn expand(&self, shape: &[usize]) -> Result<Self> {
        let err = || {
            Error::shapes(
                "expand",
                &[&self.shape, shape],
                "sizes of 1 or equal sizes, aligned at the right",
            )
        };
        if shape.len() < self.rank() {
            return Err(err());
        }
        let lead = shape.len() - self.rank();
        let mut strides = vec![0; shape.len()];
        for (i, &target) in shape.iter().enumerate().skip(lead) {
            let (d, s) = (self.shape[i - lead], self.strides[i - lead]);
            strides[i] = if d == target {
                s
            } else if d == 1 {
                0
            } else {
                return Err(err());
            };
        }
        Ok(Layout {
            shape: shape.to_vec(),
            strides,
            offset: self.offset,
        })
    }

    /// Inserts a dimension of size 1 at `dim` (`t[None]` in the lesson is `unsqueeze(0)`).
    pub fn unsqueeze(&self, dim: usize) -> Result<Self> {
        if dim > self.rank() {
            return Err(Error::Dim {
                op: "unsqueeze",
                dim,
                shape: self.shape.clone(),
            });
        }
        let mut shape = self.shape.clone();
        let mut strides = self.strides.clone();
        let stride = if dim < self.rank() {
            self.strides[dim] * self.shape[dim]
        } else {
            1
        };
        shape.insert(dim, 1);
        strides.insert(dim, stride);
        Ok(Layout {
            shape,
            strides,
            offset: self.offset,
        })
    }

    /// Removes dimension `dim`, which must have size 1.
    pub fn squeeze(&self, dim: usize) -> Result<Self> {
        check_dim("squeeze", dim, &self.shape)?;
        if self.shape[dim] != 1 {
            return Err(Error::shapes(
                "squeeze",
                &[&self.shape],
                "size 1 in the dimension squeezed",
            ));
        }
        let mut shape = self.shape.clone();
        let mut strides = self.strides.clone();
        shape.remove(dim);
        strides.remove(dim);
        Ok(Layout {
            shape,
            strides,
            offset: self.offset,
        })
    }
}

/// The shape two shapes broadcast to under NumPy/PyTorch rules: align on the right; each pair
/// of sizes must be equal or one of them 1.
pub fn broadcast_shape(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i + a.len() >= rank {
            a[i + a.len() - rank]
        } else {
            1
        };
        let db = if i + b.len() >= rank {
            b[i + b.len() - rank]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(Error::Broadcast {
                    op,
                    lhs: a.to_vec(),
                    rhs: b.to_vec(),
                })
            }
        };
    }
    Ok(out)
}
