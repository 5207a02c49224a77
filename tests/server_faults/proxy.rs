//! A TCP proxy on 127.0.0.1 that a test can make fail the way servers and networks do:
//! go silent (accept connections and never answer, as a hung server or a black-hole
//! proxy does), close the connections it relays (as a server restart does), or cut them
//! (as a proxy or NAT that lost its state does: nothing is said until the client sends,
//! and then the connection is gone).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};

use crate::common::BoxError;

/// A proxy; everything it holds is closed when it is dropped.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    upstream: Option<SocketAddr>,
    /// How many of the next connections are relayed; the others are held in silence.
    to_relay: AtomicUsize,
    accepted: AtomicUsize,
    stopping: AtomicBool,
    relayed: Mutex<Vec<Relayed>>,
    /// Connections accepted in silence: kept open, never written to.
    held: Mutex<Vec<TcpStream>>,
}

/// Both ends of a relayed connection, for the test to close or cut.
#[derive(Debug)]
struct Relayed {
    client: TcpStream,
    server: TcpStream,
    cut: Arc<AtomicBool>,
}

impl Proxy {
    /// A proxy relaying every connection to `upstream`.
    pub fn to(upstream: SocketAddr) -> Result<Proxy, BoxError> {
        Self::start(Some(upstream))
    }

    /// A listener that accepts every connection and never answers.
    pub fn silent() -> Result<Proxy, BoxError> {
        Self::start(None)
    }

    fn start(upstream: Option<SocketAddr>) -> Result<Proxy, BoxError> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            to_relay: AtomicUsize::new(usize::MAX),
            accepted: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
            relayed: Mutex::new(Vec::new()),
            held: Mutex::new(Vec::new()),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || accept(&listener, &shared))
        };
        Ok(Proxy {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The port the proxy listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// How many connections the proxy has accepted.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Relays only the next `n` new connections; later ones are held in silence.
    pub fn relay_next(&self, n: usize) {
        self.shared.to_relay.store(n, Ordering::SeqCst);
    }

    /// Relays every new connection again (the ones held in silence stay so).
    pub fn relay_all(&self) {
        self.relay_next(usize::MAX);
    }

    /// Closes every connection relayed so far on both sides, as a server that goes away
    /// does: the client finds its socket closed.
    pub fn close_relayed(&self) {
        for relayed in self.take_relayed() {
            relayed.cut.store(true, Ordering::SeqCst);
            shut(&relayed.client);
            shut(&relayed.server);
        }
    }

    /// Cuts every connection relayed so far without a word to the client: the server
    /// side is closed, the client side stays open and silent until the client sends
    /// something, and is then closed.
    pub fn cut_relayed(&self) {
        for relayed in self.take_relayed() {
            relayed.cut.store(true, Ordering::SeqCst);
            shut(&relayed.server);
        }
    }

    fn take_relayed(&self) -> Vec<Relayed> {
        std::mem::take(&mut *lock(&self.shared.relayed))
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wakes the acceptor, which then sees `stopping`.
        drop(TcpStream::connect(self.addr));
        if let Some(acceptor) = self.acceptor.take() {
            if acceptor.join().is_err() {
                eprintln!("the proxy's acceptor panicked");
            }
        }
        self.close_relayed();
        for held in lock(&self.shared.held).drain(..) {
            shut(&held);
        }
    }
}

fn accept(listener: &TcpListener, shared: &Shared) {
    for client in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        let relay = shared
            .to_relay
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| match n {
                0 => None,
                usize::MAX => Some(usize::MAX),
                n => Some(n - 1),
            })
            .is_ok();
        match shared.upstream {
            Some(upstream) if relay => {
                if let Err(error) = start_relay(shared, client, upstream) {
                    eprintln!("the proxy could not relay a connection: {error}");
                }
            }
            _ => lock(&shared.held).push(client),
        }
    }
}

/// Connects to `upstream` and copies bytes both ways, each way on a thread of its own.
fn start_relay(shared: &Shared, client: TcpStream, upstream: SocketAddr) -> Result<(), BoxError> {
    let server = TcpStream::connect(upstream)?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let cut = Arc::new(AtomicBool::new(false));
    {
        let (from, to, cut) = (client.try_clone()?, server.try_clone()?, Arc::clone(&cut));
        thread::spawn(move || client_to_server(from, to, &cut));
    }
    {
        let (from, to, cut) = (server.try_clone()?, client.try_clone()?, Arc::clone(&cut));
        thread::spawn(move || server_to_client(from, to, &cut));
    }
    lock(&shared.relayed).push(Relayed {
        client,
        server,
        cut,
    });
    Ok(())
}

fn client_to_server(mut client: TcpStream, mut server: TcpStream, cut: &AtomicBool) {
    let mut buffer = [0; 16 * 1024];
    loop {
        match client.read(&mut buffer) {
            Ok(0) | Err(_) => {
                // The client went away: the server sees its end of the stream.
                drop(server.shutdown(Shutdown::Write));
                return;
            }
            Ok(_) if cut.load(Ordering::SeqCst) => {
                // The client spoke on a cut connection: now it finds it closed.
                shut(&client);
                return;
            }
            Ok(n) => {
                if server.write_all(&buffer[..n]).is_err() {
                    shut(&client);
                    return;
                }
            }
        }
    }
}

fn server_to_client(mut server: TcpStream, mut client: TcpStream, cut: &AtomicBool) {
    let mut buffer = [0; 16 * 1024];
    loop {
        match server.read(&mut buffer) {
            Ok(n) if n > 0 && !cut.load(Ordering::SeqCst) => {
                if client.write_all(&buffer[..n]).is_err() {
                    return;
                }
            }
            // A cut connection tells the client nothing, not even that the server left.
            _ if cut.load(Ordering::SeqCst) => return,
            _ => {
                drop(client.shutdown(Shutdown::Write));
                return;
            }
        }
    }
}

fn shut(stream: &TcpStream) {
    drop(stream.shutdown(Shutdown::Both));
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
