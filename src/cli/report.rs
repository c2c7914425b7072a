//! `cifar-tui report`: finished runs of the history as an HTML page and its charts.

use anyhow::Result;

use crate::cli::ReportArgs;
use crate::cli::setup::Context;
use crate::report::{self, Selection};

pub fn report(ctx: &Context, args: &ReportArgs) -> Result<()> {
    let store = ctx.storage.read_history()?;
    let which = match (&args.study, args.ids.is_empty()) {
        (Some(name), _) => Selection::Study(name),
        (None, false) => Selection::Runs(&args.ids),
        (None, true) => Selection::All,
    };
    let made = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let out = super::absolute(&args.out);
    let w = report::of_history(&store, which, args.reference.as_deref(), &made, &out)?;
    if let Some(line) = w.left_out {
        note!("{line}");
    }
    note!(
        "wrote {} ({} runs) and {} charts beside it (SVG and PNG)",
        w.page.display(),
        w.runs,
        w.charts
    );
    Ok(())
}
