//! Runs that outlive the interface: when its terminal goes away (SIGHUP: a dropped SSH link, a
//! closed window) or the person leaves them training (`q`, then `l`), each run the interface
//! trained goes on in a process of its own, `cifar-tui resume ID --headless`, detached from
//! the terminal. It continues from the run's last finished epoch, so its figures are those of
//! a run never disturbed (the partial epoch is trained again). Any interface on the same
//! history then shows it live (see `app::watch`).

use std::fs::File;
use std::process::{Command, Stdio};

use crate::cli::setup::Context;

/// Starts a detached `resume` for each run; what to tell the person, a line each.
pub fn hand_over(ctx: &Context, runs: &[i64]) -> Vec<String> {
    runs.iter()
        .map(|&id| match resume_detached(ctx, id) {
            Ok((pid, log)) => format!(
                "run #{id} goes on in the background (process {pid}, log {log}); cifar-tui \
                 shows it live, `cifar-tui runs` lists it"
            ),
            Err(e) => format!(
                "run #{id} could not go on in the background ({e}); it stays resumable: \
                 `cifar-tui resume {id}`"
            ),
        })
        .collect()
}

/// `cifar-tui --history H --device D resume ID --headless` in a process group of its own, so
/// the terminal's hang-up does not reach it, its output in a log beside the history. It finds
/// its data folder in the run's record, as `resume` does.
fn resume_detached(ctx: &Context, id: i64) -> std::io::Result<(u32, String)> {
    let history = std::path::absolute(&ctx.storage.history)?;
    let dir = history.parent().unwrap_or(std::path::Path::new("."));
    let log = dir.join(format!("run-{id}.log"));
    let out = File::create(&log)?;
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("--history")
        .arg(&history)
        .arg("--device")
        .arg(ctx.device.to_string())
        .args(["resume", &id.to_string(), "--headless"])
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = cmd.spawn()?;
    Ok((child.id(), log.display().to_string()))
}
