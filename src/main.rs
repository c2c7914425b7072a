//! Entry point: parse the command line, set up, hand over to the TUI or the headless runner.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::bail;
use clap::Parser;

use cifar_tui::cli::setup::{self, Context};
use cifar_tui::cli::{Cli, Command};
use cifar_tui::cli::{bench, headless, report, runs, study, sweep};
use cifar_tui::term as tui;

fn main() -> ExitCode {
    // First: this process may have been started only to probe the GPU.
    cifar_engine::backend::serve_probe();
    setup::keep_freed_memory();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Not eprintln!: a closed stderr must not turn an error into a panic.
            let _ = writeln!(
                std::io::stderr(),
                "cifar-tui: {}",
                cifar_tui::cli::error_line(&e)
            );
            // A sweep's task stopped by a signal asks its batch script to requeue it.
            if e.is::<sweep::Interrupted>() {
                return ExitCode::from(sweep::emit::REQUEUE_EXIT);
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let mut ctx = Context::new(&cli)?;
    let _log = setup::logging(&ctx.log_file);
    cifar_engine::backend::keep_gpu_caches_in(&ctx.cache_dir.join("gpu"));
    match &cli.command {
        Some(Command::Run(args)) if args.headless => headless::run(&ctx, args),
        Some(Command::Study(args)) if args.headless || args.report => study::study(&ctx, args),
        Some(Command::Run(args)) => {
            ctx.check_memory(&headless::run_config(&ctx, args)?.1, 1)?;
            tui::main(ctx, tui::Start::Run(args))
        }
        Some(Command::Study(args)) => {
            // What only the headless study does is refused, not dropped without a word.
            let headless_only = [
                (args.out.is_some(), "--out"),
                (args.fresh, "--fresh"),
                (args.reference != "baseline", "--reference"),
            ];
            if let Some((_, flag)) = headless_only.iter().find(|(given, _)| *given) {
                bail!(
                    "{flag} applies to `cifar-tui study --headless` only. Fix: add --headless, \
                     or leave {flag} out (the interface compares on its Compare screen, where b \
                     picks the reference)"
                );
            }
            cifar_engine::tricks::study(&args.preset)?;
            tui::main(ctx, tui::Start::Study(args))
        }
        Some(Command::Resume(args)) if args.headless => headless::resume(&ctx, args),
        Some(Command::Resume(args)) => {
            if !std::io::stdout().is_terminal() {
                bail!(
                    "the interface needs a terminal; from scripts use `cifar-tui resume {} --headless`",
                    args.id
                );
            }
            // The interface loads one data set for all its runs: the one this run began on.
            let history = ctx.storage.open_history()?;
            ctx.check_memory(&history.get(args.id)?.config, 1)?;
            ctx.data_dir = headless::resume_data_dir(&ctx, history.files(args.id)?.0);
            drop(history);
            tui::main(ctx, tui::Start::Resume(args.id))
        }
        Some(Command::Replay(args)) => {
            // Checked before the interface takes the terminal: a missing run is said plainly.
            let history = ctx.storage.read_history()?;
            for &id in &args.ids {
                let run = history.get(id)?;
                if run.outcome().is_none() {
                    bail!(
                        "run #{id} is {}: only finished runs replay (`cifar-tui runs` lists them)",
                        run.status.label()
                    );
                }
            }
            drop(history);
            if !std::io::stdout().is_terminal() {
                bail!("replay plays runs back on the interface's screens: it needs a terminal");
            }
            tui::main(ctx, tui::Start::Replay(args))
        }
        Some(Command::Runs) => runs::list(&ctx),
        Some(Command::Show { id }) => runs::show(&ctx, *id),
        Some(Command::Export(args)) => runs::export(&ctx, args),
        Some(Command::Report(args)) => report::report(&ctx, args),
        Some(Command::Bench(args)) => bench::run(&ctx, args),
        Some(Command::Sweep(args)) => sweep::sweep(&ctx, args),
        Some(Command::SweepTask(args)) => sweep::task(&ctx, args),
        Some(Command::Import(args)) => sweep::import(&ctx, args),
        None => tui::main(ctx, tui::Start::Idle),
    }
}
