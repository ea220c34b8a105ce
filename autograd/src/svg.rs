//! A [`Graph`] drawn as a standalone SVG, laid out here (no Graphviz): a layered layout in
//! the manner of Sugiyama et al. (1981), kept small.
//!
//! 1. Layers: a box goes one layer below the lowest box with an arrow into it (the longest
//!    path from the top); then each box that is read goes down to just above the first box
//!    that reads it, so that a weight and its transpose sit beside the product that uses
//!    them.
//! 2. Order within a layer: by the mean position of the boxes with arrows into it (the
//!    barycentre heuristic), layer by layer from the top, a few sweeps; this keeps most
//!    arrows short and uncrossed.
//! 3. Coordinates: each box as wide as its longest line, layers centred, top to bottom;
//!    arrows as curves from the bottom of a box to the top of the next, labelled with their
//!    shapes.
use crate::graph::{colour, Arrow, Graph, Node, NodeKind};

/// Approximate width of a character of the 11 px sans-serif text, how much wider bold is,
/// and the line height.
const CHAR: f64 = 6.4;
const BOLD: f64 = 1.12;
const LINE: f64 = 14.0;
/// Padding inside a box, gaps between boxes and between layers, margin around the picture.
const PAD: f64 = 8.0;
const GAP: f64 = 24.0;
const LAYER_GAP: f64 = 56.0;
const MARGIN: f64 = 20.0;
/// Barycentre sweeps.
const SWEEPS: usize = 4;

/// `s` as SVG text: `&`, `<` and `>` escaped.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// For each node, the nodes with an arrow into it (`above`) and out of it (`below`).
fn neighbours(n: usize, arrows: &[Arrow]) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
    let (mut above, mut below) = (vec![Vec::new(); n], vec![Vec::new(); n]);
    for a in arrows {
        above[a.to].push(a.from);
        below[a.from].push(a.to);
    }
    (above, below)
}

/// The layer of each node (arrows go from lower to higher node index, see
/// [`Graph::drawing`]).
fn layers(above: &[Vec<usize>], below: &[Vec<usize>]) -> Vec<usize> {
    let n = above.len();
    let mut layer = vec![0usize; n];
    // One below the lowest box with an arrow in: sources come first in index order.
    for v in 0..n {
        layer[v] = above[v].iter().map(|&u| layer[u] + 1).max().unwrap_or(0);
    }
    // Then every box that is read as low as its readers allow: just above the first of
    // them (readers have higher indices, so going down the indices sees them placed).
    for v in (0..n).rev() {
        if let Some(first) = below[v].iter().map(|&w| layer[w]).min() {
            layer[v] = first - 1;
        }
    }
    layer
}

/// Each node of `row` at its relative place in it, 0 to 1.
fn place(row: &[usize], pos: &mut [f64]) {
    for (i, &v) in row.iter().enumerate() {
        pos[v] = i as f64 / row.len() as f64;
    }
}

/// The boxes of each layer, in drawing order: by index, then barycentre sweeps.
fn order(layer: &[usize], above: &[Vec<usize>], below: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let depth = layer.iter().max().map_or(0, |d| d + 1);
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); depth];
    for (v, &l) in layer.iter().enumerate() {
        rows[l].push(v);
    }
    let mut pos = vec![0f64; layer.len()];
    for row in &rows {
        place(row, &mut pos);
    }
    for sweep in 0..SWEEPS {
        // Downward sweeps order by the boxes above, upward ones by the boxes below.
        let (down, near) = if sweep % 2 == 0 {
            (true, above)
        } else {
            (false, below)
        };
        for l in 0..depth {
            let row = &mut rows[if down { l } else { depth - 1 - l }];
            let key = |v: usize| match near[v].len() {
                0 => pos[v],
                k => near[v].iter().map(|&u| pos[u]).sum::<f64>() / k as f64,
            };
            let mut keyed: Vec<(f64, usize)> = row.iter().map(|&v| (key(v), v)).collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
            *row = keyed.into_iter().map(|(_, v)| v).collect();
            place(row, &mut pos);
        }
    }
    rows
}

/// A box's size (its first line is bold: wider by [`BOLD`]).
fn size(node: &Node) -> (f64, f64) {
    let width = |(i, l): (usize, &String)| {
        l.chars().count() as f64 * CHAR * if i == 0 { BOLD } else { 1.0 }
    };
    let text = node.lines.iter().enumerate().map(width).fold(0.0, f64::max);
    (text + 2.0 * PAD, node.lines.len() as f64 * LINE + PAD)
}

impl Graph {
    /// The graph as a standalone SVG document: forward ops in blue, backward rules in
    /// orange, parameters in green, their gradients in yellow, inputs in grey; each arrow
    /// labelled with the shape of the value (forward) or gradient (backward) it carries.
    pub fn to_svg(&self) -> String {
        let (nodes, arrows) = self.drawing();
        let (above, below) = neighbours(nodes.len(), &arrows);
        let layer = layers(&above, &below);
        let rows = order(&layer, &above, &below);
        // Box positions: (x, y) of the top-left corner, and the size.
        let sizes: Vec<(f64, f64)> = nodes.iter().map(size).collect();
        let widths: Vec<f64> = rows
            .iter()
            .map(|r| {
                r.iter().map(|&v| sizes[v].0).sum::<f64>() + GAP * r.len().saturating_sub(1) as f64
            })
            .collect();
        let width = widths.iter().copied().fold(0.0, f64::max) + 2.0 * MARGIN;
        let mut at = vec![(0.0, 0.0); nodes.len()];
        let mut y = MARGIN;
        for (row, w) in rows.iter().zip(&widths) {
            let mut x = (width - w) / 2.0;
            let tallest = row.iter().map(|&v| sizes[v].1).fold(0.0, f64::max);
            for &v in row {
                at[v] = (x, y + (tallest - sizes[v].1) / 2.0);
                x += sizes[v].0 + GAP;
            }
            y += tallest + LAYER_GAP;
        }
        let height = y - LAYER_GAP + MARGIN;
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
             viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"Helvetica, Arial, sans-serif\" \
             font-size=\"11\">\n<defs><marker id=\"head\" viewBox=\"0 0 10 10\" refX=\"10\" \
             refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 \
             L10,5 L0,10 z\" fill=\"#555\"/></marker></defs>\n<rect width=\"100%\" \
             height=\"100%\" fill=\"white\"/>\n"
        );
        for a in &arrows {
            let (from, to) = ((at[a.from], sizes[a.from]), (at[a.to], sizes[a.to]));
            let (x1, y1) = (from.0 .0 + from.1 .0 / 2.0, from.0 .1 + from.1 .1);
            let (x2, y2) = (to.0 .0 + to.1 .0 / 2.0, to.0 .1);
            let bend = ((y2 - y1) / 2.0).max(20.0);
            svg += &format!(
                "<path class=\"arrow\" d=\"M{x1:.1},{y1:.1} C{x1:.1},{:.1} {x2:.1},{:.1} \
                 {x2:.1},{y2:.1}\" fill=\"none\" stroke=\"#555\" marker-end=\"url(#head)\"/>\n\
                 <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#777\" font-size=\"9\" \
                 text-anchor=\"middle\">{}</text>\n",
                y1 + bend,
                y2 - bend,
                (x1 + x2) / 2.0,
                (y1 + y2) / 2.0 - 2.0,
                escape(&a.label)
            );
        }
        for (v, node) in nodes.iter().enumerate() {
            let ((x, y), (w, h)) = (at[v], sizes[v]);
            let (class, rx) = match node.kind {
                NodeKind::Forward => ("forward", 2),
                NodeKind::Backward => ("backward", 8),
                NodeKind::Parameter => ("parameter", 14),
                NodeKind::Gradient => ("gradient", 2),
                NodeKind::Input => ("input", 14),
            };
            svg += &format!(
                "<g class=\"{class}\"><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" \
                 height=\"{h:.1}\" rx=\"{rx}\" fill=\"{}\" stroke=\"#444\"/>\n",
                colour(node.kind)
            );
            for (i, line) in node.lines.iter().enumerate() {
                let weight = if i == 0 { " font-weight=\"bold\"" } else { "" };
                svg += &format!(
                    "<text x=\"{:.1}\" y=\"{:.1}\"{weight}>{}</text>\n",
                    x + PAD,
                    y + PAD / 2.0 + LINE * (i as f64 + 0.8),
                    escape(line)
                );
            }
            svg += "</g>\n";
        }
        svg + "</svg>\n"
    }
}
