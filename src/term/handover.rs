//! Runs that outlive the interface: when its terminal goes away (SIGHUP: a dropped SSH link, a
//! closed window) or the person leaves them training (`q`, then `l`), each run the interface
//! trained goes on in a process of its own, `cifar-tui resume ID --headless`, detached from
//! the terminal. It continues from the run's last finished epoch, so its figures are those of
//! a run never disturbed (the partial epoch is trained again), then trains a share of the
//! runs that were queued. Any interface on the same history then shows them live (see
//! `app::watch`).

use std::fs::File;
use std::process::{Command, Stdio};

use crate::cli::setup::Context;

/// Starts a detached `resume` for each run that was training; the runs that were queued go
/// on after them, shared out, so that as many train at once as did in the interface. What
/// to tell the person, a line each.
pub fn hand_over(ctx: &Context, training: &[i64], queued: &[i64]) -> Vec<String> {
    lanes(training, queued)
        .iter()
        .map(|lane| {
            let (id, then) = (lane[0], &lane[1..]);
            let after = match then {
                [] => String::new(),
                ids => format!(
                    ", then queued {}",
                    ids.iter()
                        .map(|id| format!("#{id}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let go = if then.is_empty() { "goes" } else { "go" };
            match resume_detached(ctx, id, then) {
                Ok((pid, log)) => format!(
                    "run #{id}{after} {go} on in the background (process {pid}, log {log}); \
                     cifar-tui shows them live, `cifar-tui runs` lists them"
                ),
                Err(e) => format!(
                    "run #{id}{after} could not go on in the background ({e}); they stay \
                     resumable: `cifar-tui resume ID`"
                ),
            }
        })
        .collect()
}

/// One lane per training run, the queued runs dealt out over them in queue order; a lane of
/// its own for the queued runs when none was training.
fn lanes(training: &[i64], queued: &[i64]) -> Vec<Vec<i64>> {
    let mut lanes: Vec<Vec<i64>> = training.iter().map(|&id| vec![id]).collect();
    if lanes.is_empty() && !queued.is_empty() {
        lanes.push(Vec::new());
    }
    let n = lanes.len();
    for (i, &id) in queued.iter().enumerate() {
        lanes[i % n].push(id);
    }
    lanes
}

/// `cifar-tui --history H --device D resume ID --headless` in a process group of its own, so
/// the terminal's hang-up does not reach it, its output in a log beside the history. It finds
/// its data folder in the run's record, as `resume` does.
fn resume_detached(ctx: &Context, id: i64, then: &[i64]) -> std::io::Result<(u32, String)> {
    let history = std::path::absolute(&ctx.storage.history)?;
    let dir = history.parent().unwrap_or(std::path::Path::new("."));
    let log = dir.join(format!("run-{id}.log"));
    let out = File::create(&log)?;
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("--history")
        .arg(&history)
        .arg("--device")
        .arg(ctx.device.to_string())
        .args(["resume", &id.to_string(), "--headless"]);
    if !then.is_empty() {
        let ids: Vec<String> = then.iter().map(i64::to_string).collect();
        cmd.arg("--then").arg(ids.join(","));
    }
    cmd.stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = cmd.spawn()?;
    Ok((child.id(), log.display().to_string()))
}

#[cfg(test)]
mod tests {
    use super::lanes;

    #[test]
    fn queued_runs_follow_the_training_ones_as_many_at_once() {
        assert_eq!(lanes(&[1, 2], &[3, 4, 5]), [vec![1, 3, 5], vec![2, 4]]);
        assert_eq!(lanes(&[1], &[]), [vec![1]]);
        assert_eq!(lanes(&[], &[7, 8]), [vec![7, 8]]);
        assert!(lanes(&[], &[]).is_empty());
    }
}
