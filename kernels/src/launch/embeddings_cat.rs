//! Launchers of `embedding.cu`'s grouped lookup: the rows of many embedding tables, each
//! picked by its own column of a table of categorical codes, written side by side in one
//! launch (fastai's `torch.cat([e(x[:, i]) for i, e in enumerate(embeds)], 1)`), and its
//! adjoint, every table's gradient in one launch.
use super::{cfg_elems, fits, launch_blocks, u32_of, Divisor};
use crate::sources::EMBEDDING;
use crate::{Error, Gpu, Result};
use cudarc::driver::{CudaSlice, CudaView, DevicePtr, DevicePtrMut, DeviceRepr, PushKernelArg};

/// Tables a launch reads (`EMB_GROUP` in `embedding.cu`).
pub const EMB_GROUP: usize = 32;

/// `EmbeddingGroup` of `embedding.cu`, field for field.
#[repr(C)]
#[derive(Clone, Copy)]
struct EmbeddingGroup {
    count: u32,
    start: [u64; EMB_GROUP + 1],
    rows: [u64; EMB_GROUP],
    code: [u64; EMB_GROUP],
    table: [u64; EMB_GROUP],
}

// SAFETY: `repr(C)` plain data with the field order, types and alignment of the C struct
// (device addresses as `u64`).
unsafe impl DeviceRepr for EmbeddingGroup {}

/// `CodeBlock` of `embedding.cu`, field for field: the codes' strides and where a group's
/// block lies in the output. `Pod`, so the host emulation reads its bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct CodeBlock {
    code_row: u64,
    code_col: u64,
    n_codes: u64,
    y_width: u64,
    col0: u64,
    width: Divisor,
    unused: u32,
}

// SAFETY: as above; `unused` fills what would otherwise be padding.
unsafe impl DeviceRepr for CodeBlock {}

impl CodeBlock {
    /// Codes `[n, n_codes]` whose element (b, j) is `code_row * b + code_col * j` from their
    /// start; a group's block of `width` columns from column `col0` of an output
    /// `y_width` wide.
    pub fn new(
        [code_row, code_col, n_codes]: [usize; 3],
        [y_width, col0, width]: [usize; 3],
    ) -> Result<Self> {
        Ok(CodeBlock {
            code_row: code_row as u64,
            code_col: code_col as u64,
            n_codes: n_codes as u64,
            y_width: y_width as u64,
            col0: col0 as u64,
            width: Divisor::new("embedding widths", width)?,
            unused: 0,
        })
    }
}

/// The categorical codes of [`Gpu::embeddings_cat`]: `[n, count]` i64, element (b, j) at
/// `row * b + col * j` in `data` (a batch's codes as uploaded, or any view of them).
pub struct Codes<'a> {
    pub data: CudaView<'a, i64>,
    pub n: usize,
    pub count: usize,
    pub row: usize,
    pub col: usize,
}

impl Codes<'_> {
    fn check(&self, tables: usize) -> Result<()> {
        if self.count != tables {
            return Err(Error::Invalid(format!(
                "embeddings_cat: {} columns of codes for {tables} tables",
                self.count
            )));
        }
        if self.n > 0 && self.count > 0 {
            let last = (self.n - 1) * self.row + (self.count - 1) * self.col;
            fits("embeddings_cat codes", self.data.len(), last as u64 + 1)?;
        }
        Ok(())
    }

    /// Code (b, j) of `all`, the codes' elements as laid out in `data`.
    fn at(&self, all: &[i64], b: usize, j: usize) -> i64 {
        all[b * self.row + j * self.col]
    }
}

/// The `EmbeddingGroup` of tables `g0..g0 + dims.len()` (at most [`EMB_GROUP`]), table j at
/// device address `address(j)`.
fn group_of(g0: usize, dims: &[[usize; 2]], address: &impl Fn(usize) -> u64) -> EmbeddingGroup {
    let mut g = EmbeddingGroup {
        count: dims.len() as u32,
        start: [0; EMB_GROUP + 1],
        rows: [0; EMB_GROUP],
        code: [0; EMB_GROUP],
        table: [0; EMB_GROUP],
    };
    for (j, &[rows, width]) in dims.iter().enumerate() {
        g.start[j + 1] = g.start[j] + width as u64;
        (g.rows[j], g.code[j], g.table[j]) = (rows as u64, (g0 + j) as u64, address(g0 + j));
    }
    g
}

/// Each group of [`EMB_GROUP`] tables in turn: its first table, its `EmbeddingGroup`, and
/// the `CodeBlock` of its block of columns of an output (or gradient) whose rows are
/// `out_row` apart, the groups' blocks side by side.
fn groups<'a, F: Fn(usize) -> u64>(
    dims: &'a [[usize; 2]],
    codes: &'a Codes<'_>,
    out_row: usize,
    address: &'a F,
) -> impl Iterator<Item = Result<(usize, EmbeddingGroup, CodeBlock)>> + 'a {
    let mut col0 = 0;
    (0..dims.len())
        .step_by(EMB_GROUP)
        .zip(dims.chunks(EMB_GROUP))
        .map(move |(g0, group)| {
            let g = group_of(g0, group, address);
            let width = g.start[group.len()] as usize;
            let block = CodeBlock::new([codes.row, codes.col, codes.count], [out_row, col0, width]);
            col0 += width;
            Ok((g0, g, block?))
        })
}

/// The sorted adjoint's plan for one group: each table's rows sorted by code (stable), then
/// the segments' starts into that list (one past the last at the end), then each segment's
/// table, all in one buffer so that one copy uploads them.
fn sorted_plan(codes: &Codes<'_>, all: &[i64], g0: usize, count: usize) -> (Vec<u32>, usize) {
    let n = codes.n;
    let mut order = Vec::with_capacity(n * count);
    let (mut seg_start, mut seg_table) = (Vec::new(), Vec::new());
    for j in 0..count {
        let code = |b: u32| codes.at(all, b as usize, g0 + j);
        let first = order.len();
        order.extend(0..n as u32);
        order[first..].sort_by_key(|&b| code(b));
        for p in first..order.len() {
            if p == first || code(order[p]) != code(order[p - 1]) {
                seg_start.push(p as u32);
                seg_table.push(j as u32);
            }
        }
    }
    let n_seg = seg_table.len();
    seg_start.push(order.len() as u32);
    order.extend(seg_start);
    order.extend(seg_table);
    (order, n_seg)
}

impl Gpu {
    /// Launches `kernel` once per group of [`EMB_GROUP`] tables `[rows_j, width_j]` (`dims`,
    /// table j at device address `address(j)`) over the output `y` or the gradient `dy`
    /// `[n, Σ width_j]` at device address `out`, its rows `out_row` apart (each launch its
    /// group's block of columns).
    fn embedding_groups(
        &self,
        kernel: &str,
        dims: &[[usize; 2]],
        codes: &Codes<'_>,
        (address, out, out_row): (impl Fn(usize) -> u64, u64, usize),
    ) -> Result<()> {
        let f = self.function(EMBEDDING, kernel)?;
        let n = codes.n as u64;
        self.with_flag(|bad| {
            for group in groups(dims, codes, out_row, &address) {
                let (_, g, block) = group?;
                let width = g.start[g.count as usize] as usize;
                if n * width as u64 == 0 {
                    continue;
                }
                let mut b = self.stream().launch_builder(&f);
                b.arg(&g)
                    .arg(&block)
                    .arg(&n)
                    .arg(&codes.data)
                    .arg(&out)
                    .arg(bad);
                // SAFETY: every table holds rows x width elements and the output (or dy)
                // n x Σ width (checked by the callers); a code is range-checked against its
                // table before any access; the group's blocks tile the output, each element
                // written by one thread.
                unsafe { b.launch(cfg_elems(n * width as u64)) }?;
            }
            Ok(())
        })
    }

    /// `y[b, off_j + c] = tables[j][codes[b, j], c]`, `off_j` the widths of the tables before
    /// j: the embeddings of a batch, concatenated, in one launch per [`EMB_GROUP`] tables. A
    /// code outside its table reads nothing (its outputs are 0) and is an
    /// [`Error::IndexOutOfRange`] at its position in the codes.
    pub fn embeddings_cat(
        &self,
        tables: &[(&CudaView<'_, f32>, [usize; 2])],
        codes: &Codes<'_>,
        y: &mut CudaSlice<f32>,
    ) -> Result<()> {
        codes.check(tables.len())?;
        let dims: Vec<[usize; 2]> = tables.iter().map(|t| t.1).collect();
        for (t, [rows, width]) in tables {
            fits("embeddings_cat table", t.len(), (rows * width) as u64)?;
        }
        let y_width: usize = dims.iter().map(|d| d[1]).sum();
        fits("embeddings_cat", y.len(), (codes.n * y_width) as u64)?;
        let stream = self.stream();
        let address = |j: usize| tables[j].0.device_ptr(stream).0;
        let out = y.device_ptr_mut(stream).0;
        let dense = (address, out, y_width);
        self.embedding_groups("embeddings_cat_f32", &dims, codes, dense)
    }

    /// The adjoint of [`Gpu::embeddings_cat`]: `grads[j][codes[b, j], c] += dy[b, off_j + c]`
    /// by atomics, one launch per [`EMB_GROUP`] tables. The gradients of tables `[rows_j,
    /// width_j]` (`dims`) lie one after another in `grads`, zeroed by the caller: one
    /// buffer, so that one memset clears them all. `dy`'s rows are `dy_row` apart (a block
    /// of columns of a wider gradient is read in place).
    pub fn embeddings_cat_backward(
        &self,
        (grads, dims): (&mut CudaSlice<f32>, &[[usize; 2]]),
        codes: &Codes<'_>,
        (dy, dy_row): (&CudaView<'_, f32>, usize),
    ) -> Result<()> {
        let starts = self.gradient_starts((grads, dims), codes, (dy, dy_row))?;
        let out = dy.device_ptr(self.stream()).0;
        let address = |j: usize| starts[j];
        self.embedding_groups(
            "embeddings_cat_backward_f32",
            dims,
            codes,
            (address, out, dy_row),
        )
    }

    /// [`Gpu::embeddings_cat_backward`] in the CPU's order of additions, the same bits every
    /// run (`set_deterministic`): the host reads the codes back, sorts each table's and
    /// checks them, so a code out of its table is an
    /// [`Error::IndexOutOfRange`] at its position before anything is launched; then one
    /// upload and one launch per [`EMB_GROUP`] tables.
    pub fn embeddings_cat_backward_sorted(
        &self,
        (grads, dims): (&mut CudaSlice<f32>, &[[usize; 2]]),
        codes: &Codes<'_>,
        (dy, dy_row): (&CudaView<'_, f32>, usize),
    ) -> Result<()> {
        let starts = self.gradient_starts((grads, dims), codes, (dy, dy_row))?;
        let all = self.stream().clone_dtoh(&codes.data)?;
        u32_of("rows of codes", codes.n * dims.len())?;
        let bad = (0..codes.n * dims.len()).find(|&p| {
            let (b, j) = (p / dims.len(), p % dims.len());
            let code = codes.at(&all, b, j);
            code < 0 || code as u64 >= dims[j][0] as u64
        });
        if let Some(position) = bad {
            return Err(Error::IndexOutOfRange {
                position: position as u64,
            });
        }
        let f = self.function(EMBEDDING, "embeddings_cat_backward_sorted_f32")?;
        let out = dy.device_ptr(self.stream()).0;
        let address = |j: usize| starts[j];
        for group in groups(dims, codes, dy_row, &address) {
            let (g0, g, block) = group?;
            let count = g.count as usize;
            let (plan, n_seg) = sorted_plan(codes, &all, g0, count);
            if n_seg == 0 {
                continue;
            }
            let plan = self.stream().clone_htod(&plan)?;
            let order_len = codes.n * count;
            let (order, seg_start) = (plan.slice(..order_len), plan.slice(order_len..));
            let seg_table = plan.slice(order_len + n_seg + 1..);
            let n_seg32 = n_seg as u32;
            let mut b = self.stream().launch_builder(&f);
            b.arg(&g)
                .arg(&block)
                .arg(&n_seg32)
                .arg(&order)
                .arg(&seg_start)
                .arg(&seg_table)
                .arg(&codes.data)
                .arg(&out);
            // SAFETY: every code was checked against its table above; the plan's segments
            // cover each table's n rows of dy, whose span was checked; each (table, code) row
            // of the gradients is one segment's, written by its block alone.
            unsafe { launch_blocks(&mut b, n_seg.min(1 << 16), 32) }?;
        }
        Ok(())
    }

    /// Checks the adjoint's buffers and returns the device address of each table's gradient
    /// in `grads`.
    fn gradient_starts(
        &self,
        (grads, dims): (&mut CudaSlice<f32>, &[[usize; 2]]),
        codes: &Codes<'_>,
        (dy, dy_row): (&CudaView<'_, f32>, usize),
    ) -> Result<Vec<u64>> {
        codes.check(dims.len())?;
        let sizes: Vec<u64> = dims.iter().map(|[rows, w]| (rows * w) as u64).collect();
        fits(
            "embeddings_cat_backward gradients",
            grads.len(),
            sizes.iter().sum(),
        )?;
        let y_width: usize = dims.iter().map(|d| d[1]).sum();
        if dy_row < y_width {
            return Err(Error::Invalid(format!(
                "embeddings_cat_backward: rows {dy_row} apart overlap rows {y_width} wide"
            )));
        }
        if codes.n > 0 {
            let span = (codes.n - 1) * dy_row + y_width;
            fits("embeddings_cat_backward", dy.len(), span as u64)?;
        }
        let mut at = grads.device_ptr_mut(self.stream()).0;
        Ok(sizes
            .iter()
            .map(|&len| {
                at += 4 * len;
                at - 4 * len
            })
            .collect())
    }
}
