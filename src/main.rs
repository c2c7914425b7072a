//! Entry point: parse the command line, set up, hand over to the TUI or the headless runner.

use std::process::ExitCode;

use clap::Parser;

use cifar_tui::cli::setup::{self, Context};
use cifar_tui::cli::{Cli, Command};
use cifar_tui::cli::{bench, headless};
use cifar_tui::term as tui;

fn main() -> ExitCode {
    // First: this process may have been started only to probe the GPU.
    cifar_engine::backend::serve_probe();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cifar-tui: {}", cifar_tui::cli::error_line(&e));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let ctx = Context::new(&cli)?;
    let _log = setup::logging(&ctx.log_file);
    cifar_engine::backend::keep_gpu_caches_in(&ctx.cache_dir.join("gpu"));
    // Before anything touches rayon, so its workers flush denormals.
    cifar_engine::install_pool();
    match &cli.command {
        Some(Command::Run(args)) if args.headless => headless::run(&ctx, args),
        Some(Command::Study(args)) if args.headless => headless::study(&ctx, args),
        Some(Command::Run(args)) => tui::main(ctx, tui::Start::Run(args)),
        Some(Command::Study(args)) => tui::main(ctx, tui::Start::Study(args)),
        Some(Command::Resume(args)) if args.headless => headless::resume(&ctx, args),
        Some(Command::Resume(args)) => tui::main(ctx, tui::Start::Resume(args.id)),
        Some(Command::Runs) => headless::list(&ctx),
        Some(Command::Show { id }) => headless::show(&ctx, *id),
        Some(Command::Export(args)) => headless::export(&ctx, args),
        Some(Command::Bench(args)) => bench::run(&ctx, args),
        None => tui::main(ctx, tui::Start::Idle),
    }
}
