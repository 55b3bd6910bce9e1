//! The relay's HTTP server, hardened against clients that hold sockets: at most
//! `max_connections` at once (the rest wait in the kernel's accept queue, so file descriptors
//! never run out and `/health` stays answerable), and a connection that waits too long for a
//! request head is closed. Body deadlines are a layer of the router (see [`super::router`]).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tower::Service;

use super::{Relay, router};

/// Serves the relay on `listener` until `shutdown` resolves, then stops accepting and waits
/// for the requests in progress to be answered.
pub async fn serve(listener: TcpListener, relay: Arc<Relay>, shutdown: impl Future<Output = ()>) {
    let server = relay.config.server.clone();
    let deadlines = Deadlines {
        header: server.header_timeout(),
        idle: server.idle_timeout(),
    };
    let app = router(relay);
    let slots = Arc::new(Semaphore::new(server.max_connections));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A slot first, then accept: at the limit, new clients wait in the backlog (served
        // late, not refused) and this process opens no more descriptors.
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break, // never closed; ends the loop rather than panicking
            },
        };
        let (stream, remote) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // A client gone before accept, or the process out of descriptors (other
                    // software's, since ours are bounded): pause instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed; retrying shortly");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let connection = connection(stream, remote, app.clone(), deadlines, &graceful);
        tokio::spawn(async move {
            connection.await;
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// How long a connection may wait for a complete request head.
#[derive(Clone, Copy)]
struct Deadlines {
    /// On a new connection.
    header: Duration,
    /// On a kept-alive connection, after its last answer.
    idle: Duration,
}

/// What a connection is doing.
#[derive(Clone, Copy)]
enum Phase {
    /// Waiting for a request head since `since`; `first` until it has had a request.
    Waiting { since: Instant, first: bool },
    /// A request is being read or answered; the body deadline is the router's.
    Busy,
}

/// One connection: the router's answers, with the client's address as [`ConnectInfo`] (the
/// refusal log names it), closed once it waits longer than its deadline for a request head.
fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    app: Router,
    deadlines: Deadlines,
    graceful: &GracefulShutdown,
) -> impl Future<Output = ()> + use<> {
    let _ = stream.set_nodelay(true);
    let (phase, watching) = watch::channel(Phase::Waiting {
        since: Instant::now(),
        first: true,
    });
    let phase = Arc::new(phase);
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        phase.send_replace(Phase::Busy);
        req.extensions_mut().insert(ConnectInfo(remote));
        let answer = app.clone().call(req);
        let phase = phase.clone();
        async move {
            let answer = answer.await;
            phase.send_replace(Phase::Waiting {
                since: Instant::now(),
                first: false,
            });
            answer
        }
    });
    // hyper's own header_read_timeout also runs while a kept-alive connection waits for its
    // next request, so it cannot give idle connections a longer allowance than new ones; the
    // per-phase deadline below does both.
    let served = graceful.watch(
        hyper::server::conn::http1::Builder::new()
            .header_read_timeout(None)
            .serve_connection(TokioIo::new(stream), service),
    );
    async move {
        tokio::select! {
            result = served => {
                if let Err(e) = result {
                    tracing::debug!(%remote, error = %e, "connection ended with an error");
                }
            }
            // No request is in progress, so dropping the connection loses no answer.
            () = expired(watching, deadlines) => {
                tracing::debug!(%remote, "connection closed: no request within its deadline");
            }
        }
    }
}

/// Resolves when the connection has been waiting for a request head past its deadline.
async fn expired(mut phase: watch::Receiver<Phase>, deadlines: Deadlines) {
    loop {
        let now = *phase.borrow_and_update();
        let changed = match now {
            Phase::Busy => phase.changed().await,
            Phase::Waiting { since, first } => {
                let limit = if first {
                    deadlines.header
                } else {
                    deadlines.idle
                };
                tokio::select! {
                    () = tokio::time::sleep_until(since + limit) => return,
                    changed = phase.changed() => changed,
                }
            }
        };
        if changed.is_err() {
            // The connection dropped its service: it is over, and so is the watch.
            std::future::pending::<()>().await;
        }
    }
}
