//! The history from the command line: `runs`, `show` and `export` read it and print.

use anyhow::Result;

use crate::cli::setup::Context;
use crate::cli::{ExportArgs, print_out};
use crate::run::Status;
use crate::store::export;

/// `cifar-tui runs`: one line per stored run, newest first.
pub fn list(ctx: &Context) -> Result<()> {
    let store = ctx.places.read_history()?;
    let runs = store.list()?;
    if runs.is_empty() {
        note!("no runs yet in {}", store.path().display());
        return Ok(());
    }
    let mut text = format!(
        "{:>5}  {:<20}  {:<12}  {:<11}  {:>6}  {:>8}  {:>7}  tricks\n",
        "id", "created", "name", "status", "epochs", "accuracy", "minutes"
    );
    for r in &runs {
        text += &format!(
            "{:>5}  {:<20}  {:<12}  {:<11}  {:>6}  {:>8}  {:>7}  {}\n",
            r.id,
            r.created_at.as_deref().unwrap_or_default(),
            format!("{}{}", r.name, r.subset_note()),
            r.status.label(),
            format!("{}/{}", r.epochs.len(), r.config.epochs),
            r.accuracy().map(|a| format!("{a:.4}")).unwrap_or_default(),
            r.outcome()
                .map(|o| format!("{:.1}", o.seconds / 60.0))
                .unwrap_or_default(),
            r.tricks_label()
        );
    }
    print_out(&text)?;
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
    let run = ctx.places.read_history()?.get(id)?;
    let record = export::record(&run);
    print_out(&format!("{}\n", serde_json::to_string_pretty(&record)?))
}

/// `cifar-tui export IDS --format F`: to stdout.
pub fn export(ctx: &Context, args: &ExportArgs) -> Result<()> {
    let store = ctx.places.read_history()?;
    let runs = args
        .ids
        .iter()
        .map(|&id| store.get(id))
        .collect::<Result<Vec<_>, _>>()?;
    print_out(&export::render(&runs, args.format)?)
}
