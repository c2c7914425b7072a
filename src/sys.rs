//! What cifar-tui takes from the system: the signals that should stop it cleanly (Ctrl-C,
//! SIGTERM, SIGHUP).

/// Resolves at the first of SIGINT, SIGTERM or SIGHUP (a closed SSH session).
#[cfg(unix)]
pub async fn stop_signal() {
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
pub async fn stop_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
