//! `--chart PATH`: an SVG bar chart of the results, drawn by hand (no plotting crate).
//! One group of horizontal bars per operation, one bar per stack, on a log scale.

use std::fmt::Write as _;

use crate::report::Summary;

const WIDTH: f64 = 1040.0;
const LEFT: f64 = 220.0;
const RIGHT: f64 = 190.0;
/// The plot's top edge below a one-line subtitle and a one-row legend.
const TOP: f64 = 100.0;
/// The distance between two subtitle lines, or two legend rows.
const LINE: f64 = 18.0;
const BAR: f64 = 15.0;
const BAR_GAP: f64 = 3.0;
const GROUP_PAD: f64 = 18.0;
const FONT: &str = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\"";

/// Colours per stack (Tableau 10, readable by the colour-blind), others after. A
/// PostgreSQL stack gets the lighter shade of its SQLite counterpart's hue (Tableau 20),
/// and so does the raw stack on bookshelf's schema; the MySQL stacks get Tableau 20's
/// teal and brown, the hues nearest bookshelf's blue and diesel's orange that are free.
fn colour(stack: &str, index: usize) -> &'static str {
    match stack {
        "bookshelf" => "#4e79a7",
        "diesel" => "#f28e2b",
        "rusqlite" => "#59a14f",
        "rusqlite-bs" => "#8cd17d",
        "bookshelf-pg" => "#a0cbe8",
        "diesel-pg" => "#ffbe7d",
        "postgres-raw" => "#b6992d",
        "sqlx-pg" => "#e15759",
        "bookshelf-mysql" => "#499894",
        "diesel-mysql" => "#9d7660",
        _ => ["#e15759", "#76b7b2", "#edc948", "#b07aa1"][index % 4],
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `641025.6` as `641k`, `1234567` as `1.23M`.
fn short(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.2}M", value / 1e6)
    } else if value >= 1e4 {
        format!("{:.0}k", value / 1e3)
    } else if value >= 1e3 {
        format!("{:.1}k", value / 1e3)
    } else {
        format!("{value:.0}")
    }
}

/// The decade label: 1, 10, 100, 1k .. 100M.
fn decade(exp: i32) -> String {
    let units = ["", "k", "M", "G"];
    let unit = units[(exp / 3).clamp(0, 3) as usize];
    format!(
        "{}{unit}",
        10_u64.pow((exp - 3 * (exp / 3).clamp(0, 3)) as u32)
    )
}

/// The chart as an SVG document.
pub fn svg(summary: &Summary) -> String {
    let stacks = &summary.stacks;
    let rates: Vec<f64> = summary
        .ops
        .iter()
        .flat_map(|op| stacks.iter().filter_map(move |s| summary.cell(s, op)))
        .map(|cell| cell.ops_per_s)
        .filter(|rate| *rate > 0.0)
        .collect();
    let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let max = rates.iter().copied().fold(0.0, f64::max);
    let (lo, mut hi) = if rates.is_empty() {
        (0, 1)
    } else {
        (min.log10().floor() as i32, max.log10().ceil() as i32)
    };
    if hi <= lo {
        hi = lo + 1;
    }
    let plot_w = WIDTH - LEFT - RIGHT;
    let x = |value: f64| LEFT + (value.log10() - f64::from(lo)) / f64::from(hi - lo) * plot_w;
    let bars = stacks.len().max(1) as f64;
    let group_h = bars * BAR + (bars - 1.0) * BAR_GAP + GROUP_PAD;
    let plot_h = summary.ops.len() as f64 * group_h;

    let mut subtitle = String::from("log scale, higher is better");
    if let Some(a) = summary.authors {
        let _ = write!(subtitle, "; A = {a} authors, {} books", a * 10);
    }
    if summary.runs > 1 {
        let _ = write!(subtitle, "; median of {} runs", summary.runs);
    }
    let mut subtitles = vec![subtitle];
    let servers: Vec<&str> = [
        (
            "-pg = on PostgreSQL",
            crate::database::is_postgres_stack as fn(&str) -> bool,
        ),
        ("-mysql = on MySQL/MariaDB", crate::database::is_mysql_stack),
    ]
    .into_iter()
    .filter(|(_, on)| stacks.iter().any(|stack| on(stack)))
    .map(|(note, _)| note)
    .collect();
    if !servers.is_empty() {
        subtitles.push(servers.join(", "));
    }
    // The legend, in rows as wide as the chart, below the subtitles; the plot below it.
    let mut legend = Vec::with_capacity(stacks.len());
    let (mut lx, mut ly) = (LEFT, 66.0 + LINE * (subtitles.len() - 1) as f64);
    for stack in stacks {
        let width = 30.0 + 8.0 * stack.len() as f64 + 20.0;
        if lx > LEFT && lx + width - 20.0 > WIDTH {
            lx = LEFT;
            ly += LINE;
        }
        legend.push((lx, ly));
        lx += width;
    }
    let top = TOP + (ly - 66.0);
    let height = top + plot_h + 56.0;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" {FONT}>"
    );
    let _ = writeln!(
        svg,
        "<rect width=\"{WIDTH}\" height=\"{height}\" fill=\"#ffffff\"/>"
    );
    let _ = writeln!(
        svg,
        "<text x=\"{LEFT}\" y=\"30\" font-size=\"19\" font-weight=\"bold\" fill=\"#222\">\
         Catalog workload: operations per second</text>"
    );
    for (line, subtitle) in subtitles.iter().enumerate() {
        let _ = writeln!(
            svg,
            "<text x=\"{LEFT}\" y=\"{}\" font-size=\"13\" fill=\"#555\">{}</text>",
            52.0 + LINE * line as f64,
            escape(subtitle)
        );
    }
    for (i, (stack, (lx, ly))) in stacks.iter().zip(legend).enumerate() {
        let _ = writeln!(
            svg,
            "<rect x=\"{lx}\" y=\"{ly}\" width=\"14\" height=\"14\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"13\" fill=\"#222\">{}</text>",
            colour(stack, i),
            lx + 20.0,
            ly + 12.0,
            escape(stack)
        );
    }
    // Group backgrounds, then grid lines over them.
    for (g, _) in summary.ops.iter().enumerate() {
        if g % 2 == 0 {
            let y = top + g as f64 * group_h;
            let _ = writeln!(
                svg,
                "<rect x=\"0\" y=\"{y}\" width=\"{WIDTH}\" height=\"{group_h}\" fill=\"#f4f6f8\"/>"
            );
        }
    }
    for exp in lo..=hi {
        let gx = x(10_f64.powi(exp));
        let _ = writeln!(
            svg,
            "<line x1=\"{gx:.1}\" y1=\"{top}\" x2=\"{gx:.1}\" y2=\"{:.1}\" stroke=\"#b0b0b0\" stroke-width=\"1\"/>\
             <text x=\"{gx:.1}\" y=\"{:.1}\" font-size=\"12\" fill=\"#444\" text-anchor=\"middle\">{}</text>",
            top + plot_h,
            top + plot_h + 18.0,
            decade(exp)
        );
        if exp < hi {
            for minor in 2..10 {
                let mx = x(f64::from(minor) * 10_f64.powi(exp));
                let _ = writeln!(
                    svg,
                    "<line x1=\"{mx:.1}\" y1=\"{top}\" x2=\"{mx:.1}\" y2=\"{:.1}\" stroke=\"#e2e2e2\" stroke-width=\"1\"/>",
                    top + plot_h
                );
            }
        }
    }
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" fill=\"#444\" text-anchor=\"middle\">operations per second</text>",
        LEFT + plot_w / 2.0,
        top + plot_h + 40.0
    );
    // Bars.
    for (g, op) in summary.ops.iter().enumerate() {
        let group_top = top + g as f64 * group_h + GROUP_PAD / 2.0;
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"13\" fill=\"#222\" text-anchor=\"end\" \
             font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\">{}</text>",
            LEFT - 10.0,
            group_top + (group_h - GROUP_PAD) / 2.0 + 4.5,
            escape(op)
        );
        for (i, stack) in stacks.iter().enumerate() {
            let Some(cell) = summary.cell(stack, op) else {
                continue;
            };
            if cell.ops_per_s <= 0.0 {
                continue;
            }
            let y = group_top + i as f64 * (BAR + BAR_GAP);
            let end = x(cell.ops_per_s).max(LEFT + 1.0);
            let mut label = short(cell.ops_per_s);
            let compared: &[&str] = match stack.as_str() {
                "bookshelf" => &["rusqlite", "diesel"],
                "bookshelf-pg" => &["diesel-pg"],
                "bookshelf-mysql" => &["diesel-mysql"],
                _ => &[],
            };
            if !compared.is_empty() {
                let ratios: Vec<String> = compared
                    .iter()
                    .filter_map(|other| {
                        let r = summary.ratio(stack, op, other)?;
                        Some(format!("{r:.2}\u{d7} {other}"))
                    })
                    .collect();
                if !ratios.is_empty() {
                    let _ = write!(label, "  ({})", ratios.join(", "));
                }
            }
            let _ = writeln!(
                svg,
                "<rect x=\"{LEFT}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{BAR}\" fill=\"{}\">\
                 <title>{} {}: {} ops/s</title></rect>\
                 <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#333\">{}</text>",
                end - LEFT,
                colour(stack, i),
                escape(stack),
                escape(op),
                crate::report::grouped(cell.ops_per_s),
                end + 5.0,
                y + BAR - 3.5,
                escape(&label)
            );
        }
    }
    let _ = writeln!(
        svg,
        "<line x1=\"{LEFT}\" y1=\"{top}\" x2=\"{LEFT}\" y2=\"{:.1}\" stroke=\"#444\" stroke-width=\"1\"/>",
        top + plot_h
    );
    svg.push_str("</svg>\n");
    svg
}
