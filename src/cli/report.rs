//! `cifar-tui report`: finished runs of the history as an HTML page and its charts.

use anyhow::{Context as _, Result};

use crate::cli::ReportArgs;
use crate::cli::setup::Context;
use crate::report::{self, Selection, Source};

pub fn report(ctx: &Context, args: &ReportArgs) -> Result<()> {
    let store = ctx.storage.read_history()?;
    let which = match (&args.study, args.ids.is_empty()) {
        (Some(name), _) => Selection::Study(name),
        (None, false) => Selection::Runs(&args.ids),
        (None, true) => Selection::All,
    };
    let (runs, left_out) = report::select(store.list()?, which)
        .with_context(|| format!("in {}", store.path().display()))?;
    if let Some(line) = left_out {
        note!("{line}");
    }
    let made = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let source = Source {
        history: store.path(),
        made: &made,
    };
    let built = report::build(&runs, args.reference.as_deref(), &source)?;
    let page = report::write(&super::absolute(&args.out), &built)?;
    note!(
        "wrote {} ({} runs) and {} charts beside it (SVG and PNG)",
        page.display(),
        runs.len(),
        built.files.len() / 2
    );
    Ok(())
}
