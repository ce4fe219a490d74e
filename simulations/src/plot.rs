//! Latency plots as SVG: percentile curves (50 % … 99.99 %, max) per command, on a log
//! latency axis, the form in which tail latency is usually read.
#![allow(clippy::float_arithmetic)]

use hdrhistogram::Histogram;
use std::fmt::Write;

/// The percentiles plotted, as quantiles; the last point of each curve is the maximum.
pub const QUANTILES: [f64; 6] = [0.5, 0.9, 0.99, 0.999, 0.9999, 1.0];
const LABELS: [&str; 6] = ["50%", "90%", "99%", "99.9%", "99.99%", "max"];
const COLOURS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
];
const W: f64 = 760.0;
const H: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

/// Latency (µs) at each of [`QUANTILES`].
pub fn curve(h: &Histogram<u64>) -> Vec<u64> {
    QUANTILES
        .iter()
        .map(|&q| {
            if q >= 1.0 {
                h.max()
            } else {
                h.value_at_quantile(q)
            }
        })
        .collect()
}

/// An SVG with one curve per named histogram (latencies recorded in microseconds).
pub fn percentile_svg<'a>(
    title: &str,
    series: impl IntoIterator<Item = (&'a str, &'a Histogram<u64>)>,
) -> String {
    let curves: Vec<(&str, Vec<u64>)> = series
        .into_iter()
        .filter(|(_, h)| !h.is_empty())
        .map(|(n, h)| (n, curve(h)))
        .collect();
    let all = || curves.iter().flat_map(|(_, c)| c.iter().copied());
    let decade = |us: u64| (us.max(1) as f64 / 1000.0).log10();
    // Whole decades of milliseconds around the data.
    let lo = decade(all().min().unwrap_or(1)).floor();
    let hi = decade(all().max().unwrap_or(1)).ceil().max(lo + 1.0);
    let decades: Vec<f64> = (lo as i32..=hi as i32).map(|e| 10f64.powi(e)).collect();
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let x = |i: usize| LEFT + plot_w * i as f64 / (QUANTILES.len() - 1) as f64;
    let y = |us: u64| {
        let ms = (us.max(1) as f64 / 1000.0).max(10f64.powf(lo));
        TOP + plot_h * (1.0 - (ms.log10() - lo) / (hi - lo).max(1e-9))
    };
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(
        s,
        r#"<rect width="{W}" height="{H}" fill="white"/><text x="{LEFT}" y="22" font-size="14">{}</text>"#,
        escape(title)
    );
    for d in &decades {
        let yy = TOP + plot_h * (1.0 - (d.log10() - lo) / (hi - lo).max(1e-9));
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{d} ms</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            yy + 4.0
        );
    }
    for (i, label) in LABELS.iter().enumerate() {
        let _ = write!(
            s,
            r##"<line x1="{0:.1}" y1="{TOP}" x2="{0:.1}" y2="{1:.1}" stroke="#eee"/><text x="{0:.1}" y="{2:.1}" text-anchor="middle">{label}</text>"##,
            x(i),
            TOP + plot_h,
            TOP + plot_h + 18.0
        );
    }
    let _ = write!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">percentile</text>"#,
        LEFT + plot_w / 2.0,
        H - 10.0
    );
    for (k, (name, c)) in curves.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let points: Vec<String> = c
            .iter()
            .enumerate()
            .map(|(i, us)| format!("{:.1},{:.1}", x(i), y(*us)))
            .collect();
        let _ = write!(
            s,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
        let ly = TOP + 16.0 * k as f64 + 8.0;
        let _ = write!(
            s,
            r#"<line x1="{0:.1}" y1="{ly:.1}" x2="{1:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="2"/><text x="{2:.1}" y="{3:.1}">{4}</text>"#,
            W - RIGHT + 10.0,
            W - RIGHT + 30.0,
            W - RIGHT + 36.0,
            ly + 4.0,
            escape(name)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_monotone_curve_per_command() {
        let mut fast = Histogram::<u64>::new(3).unwrap();
        let mut slow = Histogram::<u64>::new(3).unwrap();
        for i in 1..=10_000u64 {
            fast.record(100 + i % 500).unwrap();
            slow.record(1_000 + i).unwrap();
        }
        let c = curve(&slow);
        assert!(c.windows(2).all(|w| w[0] <= w[1]), "{c:?}");
        assert_eq!(*c.last().unwrap(), slow.max());
        let svg = percentile_svg("a <b>", [("Confirm", &fast), ("Calculate", &slow)]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("a &lt;b&gt;") && svg.contains(">Confirm<"));
        // The slower command's curve lies above (smaller y) at the median.
        let first_point = |name_index: usize| -> f64 {
            let poly = svg.split("points=\"").nth(name_index + 1).unwrap();
            poly.split(&[',', ' ']).nth(1).unwrap().parse().unwrap()
        };
        assert!(first_point(1) < first_point(0));
    }
}
