//! Charts rendered to SVG on the server with plotters, so the first HTML
//! already holds them and no chart code ships in the WASM. Text and grid
//! colours come from the page's CSS (`.chart svg text`), so one SVG fits
//! the light and the dark scheme.

use plotters::prelude::*;

use crate::stats::Bucket;

const WIDTH: u32 = 720;
const HEIGHT: u32 = 260;
const BAR: RGBColor = RGBColor(47, 128, 237);

/// A bar chart of `buckets` (values in minor units, drawn in major units).
/// Returns the SVG document, or an empty string when there is nothing to
/// draw (the page says so in words instead).
pub fn bars(title: &str, x_desc: &str, y_desc: &str, buckets: &[Bucket]) -> String {
    if buckets.is_empty() {
        return String::new();
    }
    let mut svg = String::new();
    // Drawing into a string only fails on impossible geometry; an empty
    // chart is better than a failed page.
    if draw(&mut svg, title, x_desc, y_desc, buckets).is_err() {
        return String::new();
    }
    svg
}

fn draw(
    svg: &mut String,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    buckets: &[Bucket],
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
    let values: Vec<f64> = buckets.iter().map(|b| b.value as f64 / 100.0).collect();
    let top = values.iter().copied().fold(0.0_f64, f64::max).max(1.0) * 1.1;
    let n = buckets.len();
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0_f64..n as f64, 0_f64..top)?;
    let every = n.div_ceil(8).max(1);
    let label = |x: &f64| {
        let i = x.floor() as usize;
        match buckets.get(i) {
            Some(bucket) if i.is_multiple_of(every) => short(&bucket.label),
            _ => String::new(),
        }
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n.min(24) + 1)
        .x_label_formatter(&label)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .x_desc(x_desc)
        .y_desc(y_desc)
        .light_line_style(TRANSPARENT)
        .draw()?;
    chart.draw_series(values.iter().enumerate().map(|(i, v)| {
        let x = i as f64;
        Rectangle::new([(x + 0.12, 0.0), (x + 0.88, *v)], BAR.filled())
    }))?;
    root.present()?;
    Ok(())
}

/// `2026-11-23 14:00` → `14:00` and `2026-11-23` → `11-23`: axis labels
/// stay short; the table beside the chart has the full ones.
fn short(label: &str) -> String {
    match label.split_once(' ') {
        Some((_, time)) => time.to_owned(),
        None => label.get(5..).unwrap_or(label).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_an_svg_with_its_title_axes_and_one_bar_per_bucket() {
        let buckets: Vec<Bucket> = (0..3)
            .map(|h| Bucket {
                label: format!("2026-11-23 {h:02}:00"),
                value: (h + 1) * 1_000,
            })
            .collect();
        let svg = bars("Revenue per hour", "Hour", "EUR", &buckets);
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("Revenue per hour"));
        assert!(svg.contains("\nHour\n") && svg.contains("\nEUR\n"));
        assert!(svg.contains("\n01:00\n"));
        assert_eq!(svg.matches("fill=\"#2F80ED\"").count(), 3, "{svg}");
    }

    #[test]
    fn nothing_to_draw_is_no_chart() {
        assert_eq!(bars("Revenue", "Day", "EUR", &[]), "");
    }
}
