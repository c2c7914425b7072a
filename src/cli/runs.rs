//! The history from the command line: `runs`, `show` and `export` read it and print.

use std::io::IsTerminal;

use anyhow::Result;

use crate::cli::setup::Context;
use crate::cli::{ExportArgs, print_out};
use crate::run::Status;
use crate::store::export;

/// `cifar-tui runs`: one line per stored run, newest first.
pub fn list(ctx: &Context) -> Result<()> {
    let store = ctx.storage.read_history()?;
    let runs = store.list()?;
    if runs.is_empty() {
        note!("no runs yet in {}", store.path().display());
        return Ok(());
    }
    let header = [
        "id", "created", "name", "images", "seed", "device", "status", "epochs", "accuracy", "min",
        "tricks",
    ];
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                // 2026-12-04T18:05:37Z -> 2026-12-04 18:05
                r.created_at
                    .as_deref()
                    .unwrap_or_default()
                    .replace('T', " ")
                    .chars()
                    .take(16)
                    .collect(),
                r.name.clone(),
                r.config
                    .train_limit
                    .map_or("all".to_string(), |n| n.to_string()),
                r.config.seed.to_string(),
                r.device.map(|d| d.to_string()).unwrap_or_default(),
                r.status.label().to_string(),
                format!("{}/{}", r.epochs.len(), r.config.epochs),
                r.accuracy().map(|a| format!("{a:.4}")).unwrap_or_default(),
                r.outcome()
                    .map(|o| format!("{:.1}", o.seconds / 60.0))
                    .unwrap_or_default(),
                r.tricks_label(),
            ]
        })
        .collect();
    let right = [
        true, false, false, true, true, false, false, true, true, true, false,
    ];
    let width = std::io::stdout()
        .is_terminal()
        .then(|| crossterm::terminal::size().ok())
        .flatten()
        .map(|(w, _)| w as usize);
    // At 80 columns the creation time goes first, then the device.
    let text = table(&header, &rows, &right, width, &[1, 5]);
    print_out(&text)?;
    // Who trains what, and where: a run of another process can be stopped only there.
    for r in runs.iter().filter(|r| r.status.is_active()) {
        if let Some(t) = &r.trainer {
            let device = r.device_label().unwrap_or_else(|| "its device".into());
            note!("#{} trains in {t}, on {device}", r.id);
        }
    }
    let interrupted = runs
        .iter()
        .filter(|r| matches!(r.status, Status::Interrupted(_)))
        .count();
    if interrupted > 0 {
        note!("{interrupted} interrupted: continue one with `cifar-tui resume ID`");
    }
    Ok(())
}

/// `cifar-tui show ID`: the run as JSON.
pub fn show(ctx: &Context, id: i64) -> Result<()> {
    let run = ctx.storage.read_history()?.get(id)?;
    let record = export::record(&run);
    print_out(&format!("{}\n", serde_json::to_string_pretty(&record)?))
}

/// `cifar-tui export IDS --format F`: to stdout.
pub fn export(ctx: &Context, args: &ExportArgs) -> Result<()> {
    let store = ctx.storage.read_history()?;
    let runs = args
        .ids
        .iter()
        .map(|&id| store.get(id))
        .collect::<Result<Vec<_>, _>>()?;
    print_out(&export::render(&runs, args.format)?)
}

/// Rows under a header, each column as wide as its widest cell, numbers right-aligned. Where
/// `width` is given (a terminal), the last column is cut with an ellipsis to fit, and the
/// columns `droppable` go, in that order, while the others do not fit: a line never wraps.
fn table(
    header: &[&str],
    rows: &[Vec<String>],
    right: &[bool],
    width: Option<usize>,
    droppable: &[usize],
) -> String {
    let len = |s: &str| s.chars().count();
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| len(&r[c]))
                .chain([len(header[c])])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let last = header.len() - 1;
    let mut shown: Vec<usize> = (0..header.len()).collect();
    // Two spaces between columns.
    let fixed = |shown: &[usize]| -> usize {
        shown
            .iter()
            .filter(|&&c| c != last)
            .map(|&c| widths[c] + 2)
            .sum()
    };
    // Enough of the last column to be read before another column goes.
    let least = len(header[last]).max(12);
    if let Some(w) = width {
        for &c in droppable {
            if fixed(&shown) + least <= w {
                break;
            }
            shown.retain(|&s| s != c);
        }
    }
    let room = width.map(|w| w.saturating_sub(fixed(&shown)).max(len(header[last])));
    let line = |cells: &[&str]| {
        let mut out = String::new();
        for &c in &shown {
            let cell = cells[c];
            if c == last {
                match room {
                    Some(room) => out += &crate::ui::ellipsis(cell, room),
                    None => out += cell,
                }
            } else if right[c] {
                out += &format!("{cell:>w$}  ", w = widths[c]);
            } else {
                out += &format!("{cell:<w$}  ", w = widths[c]);
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut text = line(header);
    for r in rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        text += &line(&cells);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_fits_the_terminal_and_never_wraps() {
        let header = ["id", "created", "name", "tricks"];
        let rows = vec![vec![
            "12".to_string(),
            "2026-12-04 18:05".to_string(),
            "lecun_no_zca".to_string(),
            "+norm_inputs +lr_schedule +weight_decay +init_weights".to_string(),
        ]];
        let right = [true, false, false, false];
        let wide = table(&header, &rows, &right, None, &[1]);
        assert!(wide.contains("+init_weights"), "{wide}");
        let narrow = table(&header, &rows, &right, Some(40), &[1]);
        for l in narrow.lines() {
            assert!(l.chars().count() <= 40, "{l:?}");
        }
        assert!(
            narrow.contains("lecun_no_zca") && narrow.contains('…'),
            "{narrow}"
        );
        assert!(
            !narrow.contains("2026"),
            "the creation time went first: {narrow}"
        );
        // Columns line up: each row's name starts where the header's does.
        let at = |l: &str| l.find("name").or_else(|| l.find("lecun")).unwrap();
        let lines: Vec<&str> = narrow.lines().collect();
        assert_eq!(at(lines[0]), at(lines[1]), "{narrow}");
    }
}
