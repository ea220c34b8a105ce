//! Matrix products on tensors: `matmul` with PyTorch's rules (1-D operands are promoted,
//! batch dimensions broadcast). Transposed operands cost nothing: the backends
//! (`cpu/matmul.rs`, `cuda/matmul.rs`) read any strides, so `a.matmul(&b.t()?)` never
//! copies `b`.
use crate::layout::broadcast_shape;
use crate::{Error, Result, Storage, Tensor};

const OP: &str = "matmul";

impl Tensor {
    /// Matrix product. `[.., m, k] x [.., k, n] -> [.., m, n]` with broadcast batch
    /// dimensions; a 1-D lhs is a row vector and a 1-D rhs a column vector, their added
    /// dimension removed from the result (as `torch.matmul`).
    pub fn matmul(&self, rhs: &Tensor) -> Result<Tensor> {
        self.check_float(OP)?;
        self.check_same_dtype(OP, rhs)?;
        if self.rank() == 0 || rhs.rank() == 0 {
            return Err(Error::shapes(
                OP,
                &[self.shape(), rhs.shape()],
                "operands of at least 1 dimension",
            ));
        }
        let lhs = if self.rank() == 1 {
            self.unsqueeze(0)?
        } else {
            self.clone()
        };
        let rhs2 = if rhs.rank() == 1 {
            rhs.unsqueeze(1)?
        } else {
            rhs.clone()
        };
        let (lr, rr) = (lhs.rank(), rhs2.rank());
        let (m, k) = (lhs.shape()[lr - 2], lhs.shape()[lr - 1]);
        let (k2, n) = (rhs2.shape()[rr - 2], rhs2.shape()[rr - 1]);
        if k != k2 {
            return Err(Error::InnerDim {
                op: OP,
                lhs: self.shape().to_vec(),
                rhs: rhs.shape().to_vec(),
            });
        }
        let batch = broadcast_shape(OP, &lhs.shape()[..lr - 2], &rhs2.shape()[..rr - 2])?;
        let expand = |t: &Tensor, rows: usize, cols: usize| {
            let mut s = batch.clone();
            s.extend([rows, cols]);
            t.expand(&s)
        };
        let (a, b) = (expand(&lhs, m, k)?, expand(&rhs2, k, n)?);
        let mut shape = batch.clone();
        if self.rank() > 1 {
            shape.push(m);
        }
        if rhs.rank() > 1 {
            shape.push(n);
        }
        let storage = Storage::matmul((a.storage(), a.layout()), (b.storage(), b.layout()))?;
        Ok(Tensor::from_storage(storage, &shape))
    }
}
