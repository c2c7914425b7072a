//! Waiting for the signals that should stop cifar-tui cleanly: Ctrl-C, SIGTERM, SIGHUP.

/// Resolves at the first of SIGINT, SIGTERM or SIGHUP (a closed SSH session).
#[cfg(unix)]
pub async fn any() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        _ = hup.recv() => {}
    }
}

#[cfg(not(unix))]
pub async fn any() {
    let _ = tokio::signal::ctrl_c().await;
}
