//! [`BookStream`]: every book, by id, as an async stream fed by a scan on a blocking
//! thread through a bounded channel.

use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{joined, Admitted, AsyncRepository};
use crate::error::Result;
use crate::models::Book;

/// Books the scan hands over at a time.
const CHUNK_BOOKS: usize = 256;

/// Chunks the scan may send ahead of the reader: with the one being filled and the one
/// being read, at most `(CHUNKS_AHEAD + 2) * CHUNK_BOOKS` books are in memory.
const CHUNKS_AHEAD: usize = 2;

/// What the scan sends: a chunk of books, or the error that ended it.
type Chunk = Result<Vec<Book>>;

/// Every book, by id, from
/// [`AsyncRepository::stream_books`]: a [`Stream`](futures_core::Stream) of
/// `Result<Book>`, also readable without any stream crate through
/// [`next`](BookStream::next).
///
/// The books are read by one statement (one snapshot) on a blocking thread, which hands
/// them over in chunks through a bounded channel: when the reader is slower than the
/// scan, the scan waits, so memory stays flat however many books there are (at most
/// about a thousand are in memory at once). The scan holds a place in the repository's
/// queue and a connection until the last book is read, an error ends it, or the stream
/// is dropped; dropped, the scan stops at the next book and gives its connection back.
///
/// Nothing happens until the stream is first polled. An error (no connection in time,
/// the query failing mid-way) is the stream's last item, after the books read before it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> bookshelf::Result<()> {
/// use bookshelf::{AsyncRepository, NewAuthor, NewBook};
///
/// let repo = AsyncRepository::in_memory().await?;
/// let author = repo.create_author(NewAuthor::new("Jorge Luis Borges")).await?;
/// repo.create_books(vec![
///     NewBook::new(author.id, "Ficciones"),
///     NewBook::new(author.id, "El Aleph"),
/// ])
/// .await?;
///
/// let mut books = repo.stream_books();
/// let mut titles = Vec::new();
/// while let Some(book) = books.next().await {
///     titles.push(book?.title);
/// }
/// assert_eq!(titles, ["Ficciones", "El Aleph"]);
/// # Ok(())
/// # }
/// ```
pub struct BookStream {
    state: State,
    /// The chunk being read.
    current: std::vec::IntoIter<Book>,
}

enum State {
    /// Not polled yet.
    Idle(AsyncRepository),
    /// Waiting for a place in the queue; then the scan starts.
    Starting {
        start: Pin<Box<dyn Future<Output = JoinHandle<()>> + Send>>,
        chunks: mpsc::Receiver<Chunk>,
    },
    /// The scan runs.
    Reading {
        scan: JoinHandle<()>,
        chunks: mpsc::Receiver<Chunk>,
    },
    Done,
}

impl std::fmt::Debug for BookStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Idle(_) => "idle",
            State::Starting { .. } => "starting",
            State::Reading { .. } => "reading",
            State::Done => "done",
        };
        f.debug_struct("BookStream")
            .field("state", &state)
            .field("buffered", &self.current.len())
            .finish()
    }
}

impl BookStream {
    pub(crate) fn new(repo: AsyncRepository) -> Self {
        Self {
            state: State::Idle(repo),
            current: Vec::new().into_iter(),
        }
    }

    /// The next book, `None` after the last; an error is the last item.
    pub async fn next(&mut self) -> Option<Result<Book>> {
        std::future::poll_fn(|cx| self.poll_book(cx)).await
    }

    fn poll_book(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Book>>> {
        loop {
            if let Some(book) = self.current.next() {
                return Poll::Ready(Some(Ok(book)));
            }
            match &mut self.state {
                State::Idle(_) => {
                    if let State::Idle(repo) = std::mem::replace(&mut self.state, State::Done) {
                        let (books, chunks) = mpsc::channel(CHUNKS_AHEAD);
                        let start = Box::pin(start_scan(repo, books));
                        self.state = State::Starting { start, chunks };
                    }
                }
                State::Starting { start, .. } => {
                    let scan = ready!(start.as_mut().poll(cx));
                    if let State::Starting { chunks, .. } =
                        std::mem::replace(&mut self.state, State::Done)
                    {
                        self.state = State::Reading { scan, chunks };
                    }
                }
                State::Reading { scan, chunks } => match ready!(chunks.poll_recv(cx)) {
                    Some(Ok(chunk)) => self.current = chunk.into_iter(),
                    Some(Err(error)) => return Poll::Ready(Some(Err(error))),
                    // The scan is over: it ended, panicked, or never ran.
                    None => {
                        let ended = ready!(Pin::new(scan).poll(cx));
                        self.state = State::Done;
                        return Poll::Ready(joined(ended).err().map(Err));
                    }
                },
                State::Done => return Poll::Ready(None),
            }
        }
    }
}

impl futures_core::Stream for BookStream {
    type Item = Result<Book>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Book>>> {
        self.get_mut().poll_book(cx)
    }
}

/// Waits for a place in the queue, then starts the scan on a blocking thread: it sends
/// the books to `books` in chunks, and stops when the stream is gone.
async fn start_scan(repo: AsyncRepository, books: mpsc::Sender<Chunk>) -> JoinHandle<()> {
    let admitted = repo.admit().await;
    tokio::task::spawn_blocking(move || {
        let Admitted {
            place: _place,
            repo,
        } = admitted;
        if books.is_closed() {
            return;
        }
        let mut chunk = Vec::with_capacity(CHUNK_BOOKS);
        let scanned = repo.visit_books(|book| {
            chunk.push(book);
            if chunk.len() < CHUNK_BOOKS {
                return ControlFlow::Continue(());
            }
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_BOOKS));
            match books.blocking_send(Ok(full)) {
                Ok(()) => ControlFlow::Continue(()),
                // The stream is gone.
                Err(_) => ControlFlow::Break(()),
            }
        });
        // What the stream is sent last is seen only if it is still there.
        if !chunk.is_empty() {
            let _ = books.blocking_send(Ok(chunk));
        }
        if let Err(error) = scanned {
            let _ = books.blocking_send(Err(error));
        }
    })
}
