//! The report's figures, drawn once for any plotters backend: as SVG inside the HTML page and
//! as PNG beside it for slides.

use std::sync::OnceLock;

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::run::variants::Variant;
use cifar_engine::data::CLASSES;
use cifar_engine::metrics::Confusion;
use cifar_engine::stats::Interval;

/// The PNG's text needs a font of its own (the SVG names `sans-serif` and the browser picks
/// one): DejaVu Sans, shipped in the binary, so every machine draws the same picture.
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Tableau's ten colours: told apart by most colour-blind readers, and in print.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// One figure of the report.
pub enum Figure<'a> {
    /// Test accuracy (= micro-F1) of each variant: bars at the mean, 95% whiskers, a dot per
    /// seed.
    Accuracy(&'a [Variant]),
    /// Test accuracy after each epoch: each variant's mean, its 95% band over the seeds.
    Validation(&'a [Variant]),
    /// The learning rate of each epoch, one line per schedule with the variants that share it.
    LearningRate(&'a [(String, Vec<f64>)]),
    /// One run's confusion matrix, each row shaded by its share of the class.
    Confusion(&'a Confusion),
}

impl Figure<'_> {
    /// Width and height in pixels.
    pub fn size(&self) -> (u32, u32) {
        match self {
            Figure::Accuracy(v) => (820, 90 + 34 * v.len().max(1) as u32),
            Figure::Validation(_) => (820, 440),
            Figure::LearningRate(_) => (820, 320),
            Figure::Confusion(_) => (560, 500),
        }
    }

    /// The figure as an SVG document.
    pub fn svg(&self) -> Result<String> {
        let mut text = String::new();
        {
            let root = SVGBackend::with_string(&mut text, self.size()).into_drawing_area();
            self.draw(&root)
                .map_err(|e| anyhow!("cannot draw a figure: {e}"))?;
            root.present()
                .map_err(|e| anyhow!("cannot draw a figure: {e}"))?;
        }
        Ok(text)
    }

    /// The figure as a PNG file's bytes.
    pub fn png(&self) -> Result<Vec<u8>> {
        register_font()?;
        let (w, h) = self.size();
        let mut pixels = vec![0u8; (w * h * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
            self.draw(&root)
                .map_err(|e| anyhow!("cannot draw a figure: {e}"))?;
            root.present()
                .map_err(|e| anyhow!("cannot draw a figure: {e}"))?;
        }
        let image = image::RgbImage::from_raw(w, h, pixels)
            .ok_or_else(|| anyhow!("a figure's pixels do not fill {w}x{h}"))?;
        let mut png = std::io::Cursor::new(Vec::new());
        image.write_to(&mut png, image::ImageFormat::Png)?;
        Ok(png.into_inner())
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        root.fill(&WHITE)?;
        match self {
            Figure::Accuracy(variants) => accuracy(root, variants),
            Figure::Validation(variants) => validation(root, variants),
            Figure::LearningRate(schedules) => learning_rate(root, schedules),
            Figure::Confusion(c) => confusion(root, c),
        }
    }
}

fn register_font() -> Result<()> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| register_font_bytes(FAMILY, FontStyle::Normal, FONT).is_ok());
    match ok {
        true => Ok(()),
        false => Err(anyhow!("the report's font would not load")),
    }
}

fn register_font_bytes(name: &str, style: FontStyle, bytes: &'static [u8]) -> Result<()> {
    plotters::style::register_font(name, style, bytes).map_err(|_| anyhow!("{name} is not a font"))
}

fn font(size: u32) -> TextStyle<'static> {
    (FAMILY, size).into_font().into()
}

/// `lo..hi` around `values` with a little room, inside [0, 1].
fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        return (0.0, 1.0);
    }
    let room = ((hi - lo) * 0.15).max(0.01);
    ((lo - room).max(0.0), (hi + room).min(1.0))
}

fn ends(i: &Interval) -> (f64, f64) {
    let h = i.half_width.unwrap_or(0.0);
    (i.mean - h, i.mean + h)
}

fn accuracy<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    variants: &[Variant],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let n = variants.len().max(1);
    let (lo, hi) = span(variants.iter().flat_map(|v| {
        let (a, b) = ends(&v.accuracy);
        v.accuracy.values.iter().copied().chain([a, b])
    }));
    let longest = variants.iter().map(|v| v.label().len()).max().unwrap_or(8);
    let mut chart = ChartBuilder::on(root)
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(16 + 8 * longest as u32)
        // Integer ranges are inclusive in plotters: n rows are 0..n - 1.
        .build_cartesian_2d(lo..hi, (0..n - 1).into_segmented())?;
    // The first variant on top, as the tables list them.
    let row = |i: usize| n - 1 - i;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc(format!(
            "test accuracy (= micro-F1); bars start at {lo:.3}, whiskers: 95% interval, dots: seeds"
        ))
        .x_label_formatter(&|x| format!("{x:.3}"))
        .y_label_formatter(&|y| match y {
            SegmentValue::CenterOf(i) if *i < n => variants
                .get(row(*i))
                .map(Variant::label)
                .unwrap_or_default(),
            _ => String::new(),
        })
        .y_labels(n)
        .label_style(font(13))
        .axis_desc_style(font(13))
        .draw()?;
    for (i, v) in variants.iter().enumerate() {
        let c = colour(i);
        let y = row(i);
        let mut bar = Rectangle::new(
            [
                (lo, SegmentValue::Exact(y)),
                (v.accuracy.mean, SegmentValue::Exact(y + 1)),
            ],
            c.mix(0.55).filled(),
        );
        bar.set_margin(6, 6, 0, 0);
        chart.draw_series([bar])?;
        if v.accuracy.half_width.is_some() {
            let (a, b) = ends(&v.accuracy);
            let at = |x| (x, SegmentValue::CenterOf(y));
            let ink = BLACK.stroke_width(2);
            let cap = move |x| EmptyElement::at(at(x)) + PathElement::new([(0, -7), (0, 7)], ink);
            chart.draw_series([PathElement::new([at(a), at(b)], ink)])?;
            chart.draw_series([cap(a), cap(b)])?;
        }
        chart.draw_series(
            v.accuracy
                .values
                .iter()
                .map(|&x| Circle::new((x, SegmentValue::CenterOf(y)), 4, c.filled())),
        )?;
    }
    Ok(())
}

fn validation<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    variants: &[Variant],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let epochs = variants
        .iter()
        .map(|v| v.val_accuracy.len())
        .max()
        .unwrap_or(1)
        .max(2);
    let (lo, hi) = span(variants.iter().flat_map(|v| {
        v.val_accuracy.iter().flat_map(|i| {
            let (a, b) = ends(i);
            [a, b]
        })
    }));
    let mut chart = ChartBuilder::on(root)
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(60)
        .build_cartesian_2d(1f64..epochs as f64, lo..hi)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("test accuracy")
        .x_labels(epochs.min(20))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.2}"))
        .label_style(font(13))
        .axis_desc_style(font(13))
        .draw()?;
    for (i, v) in variants.iter().enumerate() {
        let c = colour(i);
        let points = |f: fn(&Interval) -> f64| -> Vec<(f64, f64)> {
            v.val_accuracy
                .iter()
                .enumerate()
                .map(|(e, iv)| ((e + 1) as f64, f(iv)))
                .collect()
        };
        if v.n() > 1 {
            let mut band = points(|i| ends(i).1);
            band.extend(points(|i| ends(i).0).into_iter().rev());
            chart.draw_series([Polygon::new(band, c.mix(0.15).filled())])?;
        }
        chart
            .draw_series(LineSeries::new(points(|i| i.mean), c.stroke_width(2)))?
            .label(format!("{} (n={})", v.label(), v.n()))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], c.stroke_width(2)));
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight)
}

fn learning_rate<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    schedules: &[(String, Vec<f64>)],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let epochs = schedules.iter().map(|s| s.1.len()).max().unwrap_or(1);
    let hi = schedules
        .iter()
        .flat_map(|s| s.1.iter().copied())
        .fold(0.0f64, f64::max);
    let hi = if hi > 0.0 { hi * 1.1 } else { 1e-3 };
    let mut chart = ChartBuilder::on(root)
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..epochs as f64, 0f64..hi)?;
    chart
        .configure_mesh()
        .x_desc("epoch (each holds its rate for all its steps)")
        .y_desc("learning rate")
        .x_labels(epochs.min(20) + 1)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|&y| match y {
            0.0 => "0".to_string(),
            y => format!("{y:.1e}"),
        })
        .label_style(font(13))
        .axis_desc_style(font(13))
        .draw()?;
    for (i, (label, rates)) in schedules.iter().enumerate() {
        let c = colour(i);
        // A step per epoch: the rate changes between epochs, never within one.
        let steps: Vec<(f64, f64)> = rates
            .iter()
            .enumerate()
            .flat_map(|(e, &r)| [(e as f64, r), ((e + 1) as f64, r)])
            .collect();
        chart
            .draw_series(LineSeries::new(steps, c.stroke_width(2)))?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], c.stroke_width(2)));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}

/// The series' labels in a box at `at`, over the lines.
fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    at: SeriesLabelPosition,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    chart
        .configure_series_labels()
        .position(at)
        .label_font(font(12))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
}

fn confusion<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    c: &Confusion,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let k = c.counts.len().max(1);
    let name = |i: usize| CLASSES.get(i).copied().unwrap_or("?").to_string();
    // The names CIFAR-10 plots use across columns, where "automobile" would not fit.
    let short = |i: usize| {
        let n = name(i);
        match n.as_str() {
            "airplane" => "plane".to_string(),
            "automobile" => "car".to_string(),
            _ => n,
        }
    };
    let mut chart = ChartBuilder::on(root)
        .margin(14)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .build_cartesian_2d((0..k - 1).into_segmented(), (0..k - 1).into_segmented())?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("predicted")
        .y_desc("true class")
        .x_labels(k)
        .y_labels(k)
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) => short(*i),
            _ => String::new(),
        })
        // Rows top down, as a table reads: the first class at the top.
        .y_label_formatter(&|y| match y {
            SegmentValue::CenterOf(i) if *i < k => name(k - 1 - *i),
            _ => String::new(),
        })
        .x_label_style(font(12))
        .y_label_style(font(12))
        .axis_desc_style(font(13))
        .draw()?;
    for (t, row) in c.counts.iter().enumerate() {
        let total = row.iter().sum::<u64>().max(1) as f64;
        let y = k - 1 - t;
        for (p, &n) in row.iter().enumerate() {
            let share = n as f64 / total;
            // The diagonal in blue, mistakes in red: a glance tells right from wrong.
            let base = if p == t {
                RGBColor(31, 119, 180)
            } else {
                RGBColor(214, 39, 40)
            };
            let strength = if p == t {
                share
            } else {
                (share * 4.0).min(1.0)
            };
            chart.draw_series([Rectangle::new(
                [
                    (SegmentValue::Exact(p), SegmentValue::Exact(y)),
                    (SegmentValue::Exact(p + 1), SegmentValue::Exact(y + 1)),
                ],
                base.mix(0.08 + 0.87 * strength).filled(),
            )])?;
            let ink = if strength > 0.55 { WHITE } else { BLACK };
            chart.draw_series([Text::new(
                n.to_string(),
                (SegmentValue::CenterOf(p), SegmentValue::CenterOf(y)),
                font(11)
                    .color(&ink)
                    .pos(Pos::new(HPos::Center, VPos::Center)),
            )])?;
        }
    }
    Ok(())
}
