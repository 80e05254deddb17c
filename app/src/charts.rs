//! Charts rendered to SVG on the server with plotters, so the first HTML
//! already holds them and no chart code ships in the WASM. Text and grid
//! colours come from the page's CSS (`.chart svg text`), so one SVG fits
//! the light and the dark scheme.
//!
//! Every chart is drawn twice: wide (720 px) for desktops and narrow
//! (330 px, fewer labels) for phones; the stylesheet shows one of them, so
//! axis text stays at 11 px or more on a 390 px screen. Buckets are a
//! continuous axis (the callers fill empty hours and days with zeros);
//! labels stand at bar centres, at round steps of the axis's unit, with the
//! date where the chart spans days. Value ticks are whole numbers of the
//! unit (no "0, 0, 1, 1"), with thousands separators.

use plotters::{
    coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged},
    prelude::*,
};

use crate::stats::{group, Bucket};

const BAR: RGBColor = RGBColor(47, 128, 237);

/// What the values are: minor units of a currency with `decimals`
/// decimals (drawn in major units), or plain counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Money { decimals: u32 },
    Count,
}

impl Unit {
    /// The unit of `currency`.
    pub fn money(currency: &str) -> Self {
        Self::Money {
            decimals: crate::stats::decimals(currency),
        }
    }

    fn per_unit(self) -> f64 {
        match self {
            Self::Money { decimals } => 10_f64.powi(decimals as i32),
            Self::Count => 1.0,
        }
    }
}

/// One of the two renderings.
struct Size {
    width: u32,
    height: u32,
    caption: u32,
    text: u32,
    /// At most this many labels on each axis.
    x_labels: usize,
    y_labels: usize,
    y_area: u32,
}

// Sizes as plotters takes them: its SVG writes 1/1.24 of each (a size
// of 15 is `font-size="12.1"`).
const WIDE: Size = Size {
    width: 720,
    height: 260,
    caption: 19,
    text: 15,
    x_labels: 9,
    y_labels: 6,
    y_area: 72,
};

// About as wide as it is drawn in a 390 px screen (330 px of panel), so
// 12 units of text are 11–12 px there.
const NARROW: Size = Size {
    width: 330,
    height: 230,
    caption: 17,
    text: 15,
    x_labels: 5,
    y_labels: 5,
    y_area: 58,
};

/// A bar chart of `buckets`. Returns the wide and the narrow SVG, each in
/// its own `div`, or an empty string when there is nothing to draw (the
/// page says so in words instead).
pub fn bars(title: &str, x_desc: &str, y_desc: &str, unit: Unit, buckets: &[Bucket]) -> String {
    if buckets.is_empty() || buckets.iter().all(|b| b.value == 0) {
        return String::new();
    }
    let mut html = String::new();
    for (class, size) in [("chart-wide", &WIDE), ("chart-narrow", &NARROW)] {
        let mut svg = String::new();
        // Drawing into a string only fails on impossible geometry; an empty
        // chart is better than a failed page.
        if draw(&mut svg, size, title, x_desc, y_desc, unit, buckets).is_err() {
            return String::new();
        }
        html.push_str(&format!("<div class=\"{class}\">{svg}</div>"));
    }
    html
}

fn draw(
    svg: &mut String,
    size: &Size,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    unit: Unit,
    buckets: &[Bucket],
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(svg, (size.width, size.height)).into_drawing_area();
    let per_unit = unit.per_unit();
    let values: Vec<f64> = buckets.iter().map(|b| b.value as f64 / per_unit).collect();
    let top = values.iter().copied().fold(0.0_f64, f64::max);
    let (step, y_max) = ticks(top, size.y_labels);
    let y_points: Vec<f64> = (0..)
        .map(|k| k as f64 * step)
        .take_while(|y| *y <= y_max + step / 2.0)
        .collect();
    let n = buckets.len();
    let x_points: Vec<f64> = label_indices(buckets, size.x_labels)
        .into_iter()
        .map(|i| i as f64)
        .collect();
    let spans_days = {
        let first = buckets.first().map(|b| date_of(&b.label));
        buckets.iter().any(|b| Some(date_of(&b.label)) != first)
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", size.caption))
        .margin(10)
        .x_label_area_size(size.text * 3)
        .y_label_area_size(size.y_area)
        .build_cartesian_2d(
            Axis {
                range: -0.5..n as f64 - 0.5,
                points: x_points,
            },
            Axis {
                range: 0.0..y_max * 1.04,
                points: y_points,
            },
        )?;
    let x_label = |x: &f64| {
        let i = x.round();
        if (x - i).abs() > 1e-6 || i < 0.0 {
            return String::new();
        }
        buckets
            .get(i as usize)
            .map(|b| short(&b.label, spans_days))
            .unwrap_or_default()
    };
    let y_label = |y: &f64| group(y.round().max(0.0) as u64);
    let text = ("sans-serif", size.text);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .x_label_style(text)
        .y_label_style(text)
        .axis_desc_style(text)
        .x_desc(x_desc)
        .y_desc(y_desc)
        .light_line_style(TRANSPARENT)
        .draw()?;
    chart.draw_series(values.iter().enumerate().map(|(i, v)| {
        let x = i as f64;
        Rectangle::new([(x - 0.38, 0.0), (x + 0.38, *v)], BAR.filled())
    }))?;
    root.present()?;
    Ok(())
}

/// A linear axis whose labels and grid lines stand exactly at `points`
/// (plotters' own f64 axis picks its own).
struct Axis {
    range: std::ops::Range<f64>,
    points: Vec<f64>,
}

impl Ranged for Axis {
    type ValueType = f64;
    type FormatOption = DefaultFormatting;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let share = (value - self.range.start) / (self.range.end - self.range.start);
        limit.0 + (share * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.points.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.range.clone()
    }
}

/// A tick step of 1, 2 or 5 times a power of ten (at least 1: values are
/// whole units) giving at most `most` ticks up to `top`, and the axis top
/// (a whole number of steps, at least one).
fn ticks(top: f64, most: usize) -> (f64, f64) {
    let most = most.max(2) as f64 - 1.0;
    let mut step = 1.0_f64;
    'search: loop {
        for factor in [1.0, 2.0, 5.0] {
            let candidate = step * factor;
            if (top / candidate).ceil() <= most {
                step = candidate;
                break 'search;
            }
        }
        step *= 10.0;
    }
    let y_max = ((top / step).ceil() * step).max(step);
    (step, y_max)
}

/// The buckets that get a label: at most `most`, at a round step of the
/// axis's unit (hours at multiples of 1, 2, 3, 4, 6, 12 or 24; minutes at
/// 5, 10, 15, 30; days at 1, 2, 7, 14), aligned to it (06:00, 12:00 …).
fn label_indices(buckets: &[Bucket], most: usize) -> Vec<usize> {
    let n = buckets.len();
    let most = most.max(1);
    let clock = |label: &str| -> Option<(u32, u32)> {
        let time = label.split_once(' ')?.1;
        let (h, m) = time.split_once(':')?;
        Some((h.parse().ok()?, m.parse().ok()?))
    };
    let first = buckets.first().and_then(|b| clock(&b.label));
    // Minutes when any label is off the hour; hours otherwise.
    let minutes = buckets
        .iter()
        .any(|b| clock(&b.label).is_some_and(|(_, m)| m != 0));
    let (steps, position): (&[usize], Box<dyn Fn(usize) -> usize>) = match first {
        Some(_) if minutes => (
            &[1, 2, 5, 10, 15, 30, 60],
            Box::new(|i| clock(&buckets[i].label).map_or(i, |(h, m)| (h * 60 + m) as usize)),
        ),
        Some(_) => (
            &[1, 2, 3, 4, 6, 12, 24, 48, 72, 96, 168],
            Box::new(|i| {
                // Hours since the first bucket's midnight: a day boundary
                // is a multiple of every step that divides 24.
                let day = day_index(buckets, i);
                day * 24 + clock(&buckets[i].label).map_or(0, |(h, _)| h as usize)
            }),
        ),
        None => (&[1, 2, 7, 14, 28, 56], Box::new(|i| i)),
    };
    let step = steps
        .iter()
        .copied()
        .find(|step| n.div_ceil(*step) <= most)
        .unwrap_or_else(|| n.div_ceil(most));
    (0..n).filter(|&i| position(i) % step == 0).collect()
}

/// Which day of the chart (0 for the first bucket's date) bucket `i` is on.
fn day_index(buckets: &[Bucket], i: usize) -> usize {
    let mut day = 0;
    for w in buckets[..=i].windows(2) {
        if date_of(&w[0].label) != date_of(&w[1].label) {
            day += 1;
        }
    }
    day
}

fn date_of(label: &str) -> &str {
    label.split_once(' ').map_or(label, |(date, _)| date)
}

/// Axis labels stay short; the table beside the chart has the full ones:
/// `2026-11-23 14:00` → `14:00` (or `11-23` at midnight when the chart
/// spans days), `2026-11-23` → `11-23`, `today 14:05` → `14:05`.
fn short(label: &str, spans_days: bool) -> String {
    match label.split_once(' ') {
        Some((date, "00:00")) if spans_days => date.get(5..).unwrap_or(date).to_owned(),
        Some((_, time)) => time.to_owned(),
        None => label.get(5..).unwrap_or(label).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours(days: u32) -> Vec<Bucket> {
        (0..days * 24)
            .map(|h| Bucket {
                label: format!("2026-11-{:02} {:02}:00", 20 + h / 24, h % 24),
                value: i64::from(h % 5) * 100,
            })
            .collect()
    }

    /// The text elements of an SVG, in order.
    fn texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| t.split_once('>').map(|(_, rest)| rest))
            .filter_map(|t| {
                t.split_once("</text>")
                    .map(|(text, _)| text.trim().to_owned())
            })
            .collect()
    }

    fn wide(html: &str) -> &str {
        let start = html.find("<div class=\"chart-wide\">").unwrap();
        let end = html.find("<div class=\"chart-narrow\">").unwrap();
        &html[start..end]
    }

    #[test]
    fn a_chart_is_two_svgs_with_their_title_axes_and_one_bar_per_bucket() {
        let buckets: Vec<Bucket> = (0..3)
            .map(|h| Bucket {
                label: format!("2026-11-23 {h:02}:00"),
                value: (h + 1) * 1_000,
            })
            .collect();
        let html = bars(
            "Revenue per hour",
            "Hour",
            "EUR",
            Unit::money("EUR"),
            &buckets,
        );
        assert_eq!(html.matches("<svg").count(), 2, "{html}");
        let wide = wide(&html);
        assert!(wide.contains("Revenue per hour"));
        let texts = texts(wide);
        assert!(texts.contains(&"Hour".to_owned()) && texts.contains(&"EUR".to_owned()));
        assert!(texts.contains(&"01:00".to_owned()), "{texts:?}");
        assert_eq!(wide.matches("fill=\"#2F80ED\"").count(), 3, "{wide}");
    }

    #[test]
    fn small_counts_get_whole_ticks_and_large_ones_separators() {
        let small: Vec<Bucket> = (0..4)
            .map(|i| Bucket {
                label: format!("today 10:{i:02}"),
                value: i % 3,
            })
            .collect();
        let html = bars("Events", "Minute", "Events", Unit::Count, &small);
        let ticks: Vec<String> = texts(wide(&html))
            .into_iter()
            .filter(|t| t.chars().all(|c| c.is_ascii_digit() || c == ','))
            .collect();
        assert_eq!(ticks, ["0", "1", "2"], "{html}");
        let large = [Bucket {
            label: "2026-11-23".to_owned(),
            value: 16_000_000,
        }];
        let texts = texts(wide(&bars(
            "Revenue",
            "Day",
            "EUR",
            Unit::money("EUR"),
            &large,
        )));
        assert!(texts.contains(&"100,000".to_owned()), "{texts:?}");
        assert!(!texts
            .iter()
            .any(|t| t.len() > 3 && t.chars().all(|c| c.is_ascii_digit())));
    }

    #[test]
    fn hours_over_days_are_labelled_at_round_hours_with_their_dates() {
        let buckets = hours(3);
        let html = bars("Net revenue", "Hour", "EUR", Unit::money("EUR"), &buckets);
        let texts = texts(wide(&html));
        // 72 hours, at most 9 labels: every 12 hours, midnights as dates.
        for label in ["11-20", "12:00", "11-21", "11-22"] {
            assert!(texts.contains(&label.to_owned()), "{label} in {texts:?}");
        }
        assert!(!texts.contains(&"00:00".to_owned()));
        assert_eq!(label_indices(&buckets, 9), [0, 12, 24, 36, 48, 60]);
        // One day: every 3 hours.
        assert_eq!(label_indices(&hours(1), 9), [0, 3, 6, 9, 12, 15, 18, 21]);
        // The phone's five: every 6 hours.
        assert_eq!(label_indices(&hours(1), 5), [0, 6, 12, 18]);
    }

    #[test]
    fn the_phone_chart_is_narrow_with_text_of_at_least_twelve_units() {
        let html = bars("Net revenue", "Hour", "EUR", Unit::money("EUR"), &hours(1));
        let narrow = &html[html.find("<div class=\"chart-narrow\">").unwrap()..];
        assert!(narrow.contains("width=\"330\""), "{narrow}");
        for size in narrow.split("font-size=\"").skip(1) {
            let px: f64 = size.split('"').next().unwrap().parse().unwrap();
            assert!(px >= 12.0, "font-size {px} in {narrow}");
        }
    }

    #[test]
    fn nothing_to_draw_is_no_chart() {
        assert_eq!(bars("Revenue", "Day", "EUR", Unit::Count, &[]), "");
        let zeros = hours(1)
            .into_iter()
            .map(|b| Bucket { value: 0, ..b })
            .collect::<Vec<_>>();
        assert_eq!(bars("Revenue", "Hour", "EUR", Unit::Count, &zeros), "");
    }
}
