//! `cifar-tui study --headless`: the eight scenarios (or a named study) over seeds, trained in
//! order or side by side, and `study --report`, the report rebuilt from the history.

use std::path::Path;
use std::sync::atomic::Ordering;

use anyhow::{Context as _, Result, bail};

use super::headless::{
    Planned, Signal, check_out_dir, collect, enqueue, load_data, seed_file, train_queue,
};
use crate::cli::setup::Context;
use crate::cli::{StudyArgs, absolute, print_out};
use crate::run::variants::{self, Seeds, Trial, Variant};
use crate::store::Store;
use cifar_engine::config::Hyper;
use cifar_engine::tricks;

pub fn study(ctx: &Context, args: &StudyArgs) -> Result<()> {
    let presets = tricks::study(&args.preset)?.presets;
    if args.report {
        return study_report(ctx, args);
    }
    let hyper = ctx.hyper(&args.overrides)?;
    let out = args.out.as_deref().map(absolute);
    if let Some(dir) = &out {
        check_out_dir(dir)?;
    }
    let device = cifar_engine::backend::select(ctx.device)?.0.kind();
    let seeds = ctx.seeds(
        &args.overrides,
        hyper.seed,
        Seeds::default_for(true, device),
    );
    let repeated = seeds.len() > 1;
    // Seed by seed: an interrupted study still has whole, paired seeds.
    let configs: Vec<_> = seeds
        .iter()
        .flat_map(|&seed| {
            let hyper = Hyper {
                seed,
                ..hyper.clone()
            };
            presets.iter().map(move |preset| {
                let tricks = preset.trick_set();
                let mut cfg = tricks::resolve(&tricks, &hyper);
                cfg.train_limit = args.overrides.train_limit();
                (preset.name, tricks, cfg)
            })
        })
        .collect();
    let parallel = ctx.parallel_on(device).min(configs.len()).max(1);
    for (_, _, cfg) in configs.iter().take(presets.len()) {
        ctx.check_memory(cfg, parallel)?;
    }
    if repeated {
        let list: Vec<String> = seeds.iter().map(u64::to_string).collect();
        note!(
            "{} scenarios x {} seeds ({})",
            presets.len(),
            seeds.len(),
            list.join(", ")
        );
    }
    let data = load_data(ctx)?;
    let rt = tokio::runtime::Runtime::new()?;
    let signal = Signal::listen(&rt);
    // The same study run again takes up its own runs: the history's, newest first.
    let mut earlier = match args.fresh {
        true => Vec::new(),
        false => Store::open(&ctx.storage.history)
            .and_then(|s| s.list())
            .unwrap_or_default(),
    };
    earlier.retain(|r| r.origin.is_none());
    let (mut kept, mut resumed) = (0, 0);
    // The whole study is in the history from the start: queued until a worker takes it.
    let runs: Vec<Planned> = configs
        .into_iter()
        .map(|(name, tricks, cfg)| {
            let file = out
                .as_ref()
                .map(|dir| seed_file(&dir.join(format!("{name}.json")), cfg.seed, repeated));
            let same = earlier.iter().position(|r| {
                r.name == name && r.config == cfg && (r.outcome().is_some() || r.status.resumable())
            });
            let (id, done) = match same.map(|i| earlier.remove(i)) {
                Some(r) => {
                    match r.outcome() {
                        Some(_) => kept += 1,
                        None => resumed += 1,
                    }
                    (Some(r.id), r.outcome().cloned().map(Box::new))
                }
                None => (enqueue(ctx, name, &cfg, file.as_deref()), None),
            };
            let label = if repeated {
                format!("{name} seed {}", cfg.seed)
            } else {
                name.to_string()
            };
            Planned {
                name,
                label,
                tricks,
                cfg,
                file,
                id,
                done,
            }
        })
        .collect();
    if kept + resumed > 0 {
        note!(
            "this study was begun before: {kept} of its runs finished then and count as they \
             are, {resumed} resume where they stopped (--fresh trains every run anew)"
        );
    }
    let ended = train_queue(ctx, &data, &runs, parallel, &signal);
    let finished = ended.iter().filter(|e| matches!(e, Some(Ok(_)))).count();
    if finished < runs.len() && signal.seen.load(Ordering::SeqCst) {
        bail!(
            "the study stopped after {finished} of its {} runs. Fix: run the same command again \
             to finish it (finished runs count as they are, interrupted ones resume)",
            runs.len()
        );
    }
    let variants = variants::group(collect(&runs, ended)?);
    let table = variants::report(&variants, &args.reference);
    if let Some(dir) = &out {
        write_report(dir, &variants, &args.reference, &table)?;
    }
    print_out(&table)
}

/// `study.md` and `study.json` in `dir`.
fn write_report(dir: &Path, variants: &[Variant], reference: &str, table: &str) -> Result<()> {
    let (md, json) = (dir.join("study.md"), dir.join("study.json"));
    let text = serde_json::to_string_pretty(&variants::report_json(variants, reference))?;
    crate::sys::write_whole(&[(&md, table.as_bytes()), (&json, text.as_bytes())]).with_context(
        || {
            format!(
                "cannot write {} and {}: neither was changed",
                md.display(),
                json.display()
            )
        },
    )
}

/// `cifar-tui study --report`: the report of the finished runs in the history, one section
/// per setting (epochs, batch size, training images, held-out images), the most runs first.
/// Trains nothing.
pub fn study_report(ctx: &Context, args: &StudyArgs) -> Result<()> {
    let store = ctx.storage.read_history()?;
    let o = &args.overrides;
    let mut rows = store.list()?;
    // Oldest first, so the scenarios come in the order they were trained.
    rows.reverse();
    let trials: Vec<Trial> = rows
        .iter()
        .filter_map(Trial::from_run)
        .filter(|t| o.epochs.is_none_or(|e| t.config.epochs == e))
        .filter(|t| o.batch_size.is_none_or(|b| t.config.batch_size == b))
        .filter(|t| o.train_limit.is_none() || t.config.train_limit == o.train_limit())
        .collect();
    if trials.is_empty() {
        bail!(
            "no finished runs in {} match. Fix: train some (`cifar-tui study --headless`), or \
             name the history that holds them with --history FILE",
            store.path().display()
        );
    }
    let sections = variants::by_setting(trials, |t| &t.config);
    let mut text = String::new();
    let mut all = Vec::new();
    for (setting, trials) in sections {
        let runs = trials.len();
        let mut variants = variants::group(trials);
        variants.sort_by_key(|v| variants::study_order(&v.name));
        text += &format!(
            "## {}: {runs} finished runs\n\n{}\n",
            variants::setting_label(&setting),
            variants::report(&variants, &args.reference)
        );
        all.extend(variants);
    }
    if let Some(dir) = args.out.as_deref() {
        check_out_dir(dir)?;
        write_report(dir, &all, &args.reference, &text)?;
    }
    print_out(&text)
}
