//! The report's line charts: one SVG per measure, x the budgets, one line per policy in a fixed
//! colour and dash, so equal inputs draw equal bytes.

use std::fmt::Write as _;

use page_policy::PolicyId;

use crate::report::esc;

/// Colour and dash of each policy's line.
fn style(policy: &str) -> (&'static str, &'static str) {
    match policy {
        "retrieval_only" => ("#d62728", ""),
        "retrieval_only_cached" => ("#ff7f0e", ""),
        "compaction_hybrid" => ("#9467bd", ""),
        "clawvm" => ("#2ca02c", ""),
        "lru" => ("#1f77b4", "6 3"),
        "cache_stable" => ("#000000", ""),
        _ => ("#555555", "2 3"),
    }
}

/// One line of a chart.
pub(crate) struct Series {
    pub(crate) name: String,
    pub(crate) color: &'static str,
    pub(crate) dash: &'static str,
    pub(crate) values: Vec<f64>,
}

/// A line chart with categorical x labels, y from 0 to a rounded maximum.
pub(crate) fn line_chart(
    id: &str,
    title: &str,
    y_label: &str,
    x_labels: &[String],
    series: &[Series],
) -> String {
    // Room on the right for the longest legend entry (about 6.5 px a character at 11 px).
    let longest = series
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(0);
    #[expect(clippy::cast_precision_loss, reason = "legend names are short")]
    let right = (longest as f64 * 6.5 + 44.0).max(150.0);
    let (w, h) = (560.0 + right, 300.0);
    let (left, top, bottom) = (56.0, 28.0, 40.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let y_max = nice_ceiling(max);
    let n = x_labels.len().max(1);
    #[expect(clippy::cast_precision_loss, reason = "a handful of x positions")]
    let x = |i: usize| {
        if n == 1 {
            left + pw / 2.0
        } else {
            left + pw * i as f64 / (n - 1) as f64
        }
    };
    let y = |v: f64| top + ph - ph * (v / y_max);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg id=\"{id}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{t}\"><title>{t}</title>",
        t = esc(title)
    );
    let _ = write!(
        s,
        "<text x=\"{left}\" y=\"16\" font-size=\"13\" font-weight=\"bold\">{}</text>",
        esc(title)
    );
    for k in 0..=4 {
        let v = y_max * f64::from(k) / 4.0;
        let yy = y(v);
        let _ = write!(
            s,
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#e5e5e5\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{}</text>",
            left + pw,
            left - 4.0,
            yy + 3.0,
            short(v)
        );
    }
    for (i, label) in x_labels.iter().enumerate() {
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
            x(i),
            top + ph + 14.0,
            esc(label)
        );
    }
    let _ = write!(
        s,
        "<text x=\"12\" y=\"{:.1}\" font-size=\"10\" transform=\"rotate(-90 12 {:.1})\" text-anchor=\"middle\">{}</text>",
        top + ph / 2.0,
        top + ph / 2.0,
        esc(y_label)
    );
    for (k, se) in series.iter().enumerate() {
        let pts: Vec<String> = se
            .values
            .iter()
            .enumerate()
            .map(|(i, &v)| format!("{:.1},{:.1}", x(i), y(v)))
            .collect();
        let dash = if se.dash.is_empty() {
            String::new()
        } else {
            format!(" stroke-dasharray=\"{}\"", se.dash)
        };
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{dash} points=\"{}\"><title>{}</title></polyline>",
            se.color,
            pts.join(" "),
            esc(&se.name)
        );
        for (i, &v) in se.values.iter().enumerate() {
            let _ = write!(
                s,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{}\"><title>{}: {}</title></circle>",
                x(i),
                y(v),
                se.color,
                esc(&se.name),
                short(v)
            );
        }
        #[expect(clippy::cast_precision_loss, reason = "a handful of legend rows")]
        let ly = top + 14.0 * k as f64;
        let lx = left + pw + 14.0;
        let _ = write!(
            s,
            "<line x1=\"{lx:.1}\" x2=\"{:.1}\" y1=\"{ly:.1}\" y2=\"{ly:.1}\" stroke=\"{}\" stroke-width=\"2\"{dash}/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">{}</text>",
            lx + 18.0,
            se.color,
            lx + 22.0,
            ly + 4.0,
            esc(&se.name)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// The smallest of 1, 2, 2.5, 5 × 10^k at or above `v` (1 for 0).
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let mut base = 1e-3;
    loop {
        for m in [1.0, 2.0, 2.5, 5.0] {
            if base * m >= v {
                return base * m;
            }
        }
        base *= 10.0;
    }
}

/// A short, stable number: integers plain, others with up to two decimals.
fn short(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{:.0}", v + 0.0)
    } else {
        let t = format!("{:.2}", v + 0.0);
        t.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// One series per policy in `policies`, in drawing order, `value(code, i)` at each of `n`
/// budgets.
pub(crate) fn policy_series(
    policies: &[PolicyId],
    mut value: impl FnMut(&str, usize) -> f64,
    n: usize,
) -> Vec<Series> {
    // ClawVM after the policies it ties with so it is drawn on top of them.
    let order = [
        PolicyId::RetrievalOnly,
        PolicyId::RetrievalOnlyCached,
        PolicyId::CompactionHybrid,
        PolicyId::OracleH3,
        PolicyId::Lru,
        PolicyId::Clawvm,
        PolicyId::CacheStable,
    ];
    order
        .iter()
        .filter(|p| policies.contains(p))
        .map(|p| {
            let code = p.code();
            let (color, dash) = style(code);
            Series {
                name: code.to_owned(),
                color,
                dash,
                values: (0..n).map(|i| value(code, i)).collect(),
            }
        })
        .collect()
}
