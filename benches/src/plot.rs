//! `--plot FILE.svg`: throughput per path and message latency over time, with the
//! scripted events shaded, so a failover or a striping imbalance can be seen.

use crate::emu::BUCKET;
use crate::spec::EventKind;
use crate::workload::{Outcome, RunSpec};
use plotters::prelude::*;
use std::path::Path;

const COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

/// Draws the run into an SVG file.
pub fn plot(file: &Path, spec: &RunSpec, o: &Outcome) -> Result<(), String> {
    draw(file, spec, o).map_err(|e| format!("plotting to {}: {e}", file.display()))
}

fn draw(file: &Path, spec: &RunSpec, o: &Outcome) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(file, (1000, 720)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(360);
    let secs = BUCKET.as_secs_f64();
    let end = spec.duration.as_secs_f64();
    let buckets = (end / secs).ceil() as usize;
    let mbps = |bytes: u64| bytes as f64 * 8.0 / secs / 1e6;
    let series = |v: &[u64]| -> Vec<(f64, f64)> {
        (0..buckets)
            .map(|i| {
                (
                    (i as f64 + 0.5) * secs,
                    mbps(v.get(i).copied().unwrap_or(0)),
                )
            })
            .collect()
    };
    let goodput = series(&o.goodput_series);
    let paths: Vec<Vec<(f64, f64)>> = o.path_series.iter().map(|s| series(s)).collect();
    let ymax = goodput
        .iter()
        .chain(paths.iter().flatten())
        .map(|p| p.1)
        .fold(1.0f64, f64::max)
        * 1.15;
    let title = format!(
        "{} {} (mode {}) over {}",
        spec.transport.name(),
        spec.workload,
        spec.mode,
        spec.paths
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(" + ")
    );
    let mut chart = ChartBuilder::on(&top)
        .caption(
            format!("{title}: throughput per {:.0} ms", secs * 1e3),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..end, 0f64..ymax)?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc("Mbit/s")
        .draw()?;
    shade_events(&mut chart, spec, ymax)?;
    for (i, p) in paths.iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(p.iter().copied(), c.stroke_width(2)))?
            .label(format!("path {i} (wire bytes, client → server)"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    chart
        .draw_series(LineSeries::new(
            goodput.iter().copied(),
            BLACK.stroke_width(1),
        ))?
        .label("goodput (message payload delivered)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;

    let lat: Vec<(f64, f64)> = o
        .latency_series
        .iter()
        .enumerate()
        .take(buckets)
        .filter_map(|(i, l)| l.map(|us| ((i as f64 + 0.5) * secs, us as f64 / 1e3)))
        .collect();
    let lmax = lat.iter().map(|p| p.1).fold(1.0f64, f64::max) * 1.15;
    let what = if spec.workload == crate::workload::Workload::PingPong {
        "round-trip"
    } else {
        "one-way"
    };
    let mut chart = ChartBuilder::on(&bottom)
        .caption(
            format!(
                "highest {what} message latency per {:.0} ms (gaps: nothing delivered)",
                secs * 1e3
            ),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..end, 0f64..lmax)?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc("latency (ms)")
        .draw()?;
    shade_events(&mut chart, spec, lmax)?;
    chart.draw_series(
        lat.iter()
            .map(|&(x, y)| Circle::new((x, y), 2, COLORS[3].filled())),
    )?;
    root.present()?;
    Ok(())
}

/// Shades every blackhole and marks every other event with a vertical line.
fn shade_events<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    spec: &RunSpec,
    ymax: f64,
) -> Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    for e in &spec.events {
        let at = e.at.as_secs_f64();
        match e.kind {
            EventKind::Blackhole { end } => {
                let c = COLORS[e.path % COLORS.len()].mix(0.15);
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(at, 0.0), (end.as_secs_f64(), ymax)],
                        c.filled(),
                    )))?
                    .label(format!("blackhole on path {}", e.path))
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 20, y + 5)], c.filled())
                    });
            }
            _ => {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(at, 0.0), (at, ymax)],
                    RED.stroke_width(1),
                )))?;
            }
        }
    }
    Ok(())
}
