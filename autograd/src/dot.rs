//! A [`Graph`] in Graphviz's DOT language, for `dot -Tsvg` where Graphviz is installed
//! ([`Graph::to_svg`] needs nothing): the boxes and arrows of the drawing, top to bottom.
use crate::graph::{colour, Graph, NodeKind};

/// `s` inside a DOT string: quotes and backslashes escaped.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

impl Graph {
    /// The graph as a DOT `digraph`: one node per box (forward ops and parameters' gradients
    /// as boxes, backward rules as rounded boxes, parameters and inputs as ellipses), one
    /// edge per arrow, labelled with its shape.
    pub fn to_dot(&self) -> String {
        let (nodes, arrows) = self.drawing();
        let mut out = String::from(
            "digraph tape {\n  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=10, \
             style=filled];\n  edge [fontname=\"Helvetica\", fontsize=9];\n",
        );
        for (i, n) in nodes.iter().enumerate() {
            let shape = match n.kind {
                NodeKind::Forward | NodeKind::Gradient => "box",
                NodeKind::Backward => "box, style=\"filled,rounded\"",
                NodeKind::Parameter | NodeKind::Input => "ellipse",
            };
            let label: Vec<String> = n.lines.iter().map(|l| escape(l)).collect();
            out += &format!(
                "  n{i} [shape={shape}, fillcolor=\"{}\", label=\"{}\"];\n",
                colour(n.kind),
                label.join("\\n")
            );
        }
        for a in &arrows {
            out += &format!(
                "  n{} -> n{} [label=\"{}\"];\n",
                a.from,
                a.to,
                escape(&a.label)
            );
        }
        out + "}\n"
    }
}
