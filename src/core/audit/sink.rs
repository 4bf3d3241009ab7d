//! Where a device's lines go: an append-only file (opened without following symlinks, mode
//! 0600), stdout, or a TCP/UDP/unix socket whose writes are bounded by a timeout.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket, UnixStream};

/// A device's destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A file path.
    File(PathBuf),
    /// The process's standard output.
    Stdout,
    /// A socket: `tcp`, `udp` or `unix`.
    Socket {
        /// `tcp`, `udp` or `unix`.
        kind: SocketKind,
        /// `host:port`, or a socket path for `unix`.
        address: String,
        /// Longest a connect or write may take.
        write_timeout: Duration,
    },
}

/// How a destination is named in log lines and startup errors (a path, `stdout`, or the socket).
impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::File(path) => write!(f, "{}", path.display()),
            Target::Stdout => f.write_str("stdout"),
            Target::Socket { kind, address, .. } => write!(f, "{kind:?} socket {address}"),
        }
    }
}

/// Socket flavours (Vault's `socket_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketKind {
    /// Stream over TCP.
    Tcp,
    /// One datagram per line.
    Udp,
    /// Stream over a unix socket.
    Unix,
}

enum Conn {
    File(File),
    Stdout,
    Tcp(TcpStream),
    Udp(UdpSocket),
    Unix(UnixStream),
}

/// An open (or not yet open) destination.
pub struct Sink {
    target: Target,
    conn: Option<Conn>,
}

/// Lines longer than this are not searched for when resuming a chain from a file's tail.
const MAX_TAIL: u64 = 64 << 20;

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the audit peer did not accept the write in time")
}

async fn bounded<T>(limit: Duration, f: impl std::future::Future<Output = io::Result<T>>) -> io::Result<T> {
    tokio::time::timeout(limit, f).await.unwrap_or_else(|_| Err(timed_out()))
}

impl Sink {
    /// A sink that opens lazily.
    pub fn new(target: Target) -> Self {
        Self { target, conn: None }
    }

    /// Where the lines go.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Opens the destination if it is not open; true if it was (re)opened now.
    pub async fn ensure_open(&mut self) -> io::Result<bool> {
        if self.conn.is_some() {
            return Ok(false);
        }
        self.conn = Some(match &self.target {
            Target::File(path) => Conn::File(open_file(path)?),
            Target::Stdout => Conn::Stdout,
            Target::Socket { kind: SocketKind::Tcp, address, write_timeout } => {
                let s = bounded(*write_timeout, TcpStream::connect(address.as_str())).await?;
                s.set_nodelay(true)?;
                Conn::Tcp(s)
            }
            Target::Socket { kind: SocketKind::Udp, address, .. } => {
                let s = UdpSocket::bind(if address.starts_with('[') { "[::]:0" } else { "0.0.0.0:0" }).await?;
                s.connect(address.as_str()).await?;
                Conn::Udp(s)
            }
            Target::Socket { kind: SocketKind::Unix, address, write_timeout } => {
                Conn::Unix(bounded(*write_timeout, UnixStream::connect(address)).await?)
            }
        });
        Ok(true)
    }

    fn write_timeout(&self) -> Duration {
        match &self.target {
            Target::Socket { write_timeout, .. } => *write_timeout,
            _ => Duration::from_secs(2),
        }
    }

    /// Writes whole lines. On failure the connection is dropped (reopened with a fresh `open`
    /// checkpoint next time) and a file is cut back to where it was, so no partial line stays.
    /// File writes are plain `write(2)` calls into the page cache.
    pub async fn write(&mut self, buf: &[u8]) -> io::Result<()> {
        let limit = self.write_timeout();
        let result = match self.conn.as_mut() {
            None => Err(io::Error::new(io::ErrorKind::NotConnected, "not open")),
            Some(Conn::File(f)) => {
                let before = f.metadata().map(|m| (m.len(), m.file_type().is_file())).ok();
                let r = f.write_all(buf);
                if let (Err(_), Some((len, true))) = (&r, before) {
                    let _ = f.set_len(len);
                }
                r
            }
            Some(Conn::Stdout) => {
                let mut out = io::stdout().lock();
                out.write_all(buf).and_then(|()| out.flush())
            }
            Some(Conn::Tcp(s)) => bounded(limit, s.write_all(buf)).await,
            Some(Conn::Unix(s)) => bounded(limit, s.write_all(buf)).await,
            Some(Conn::Udp(s)) => {
                let mut r = Ok(());
                for line in buf.split_inclusive(|b| *b == b'\n') {
                    r = bounded(limit, s.send(line)).await.map(|_| ());
                    if r.is_err() {
                        break;
                    }
                }
                r
            }
        };
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    /// Flushes a file to disk (on the blocking pool). An fsync error closes the handle: its data
    /// cannot be trusted.
    pub async fn sync(&mut self) -> io::Result<()> {
        let file = match self.conn.as_ref() {
            Some(Conn::File(f)) if f.metadata().map(|m| m.file_type().is_file()).unwrap_or(false) => f.try_clone()?,
            _ => return Ok(()),
        };
        let r =
            tokio::task::spawn_blocking(move || file.sync_data()).await.unwrap_or_else(|e| Err(io::Error::other(e)));
        if r.is_err() {
            self.conn = None;
        }
        r
    }

    /// Closes the destination (the next write reopens it: logrotate's SIGHUP).
    pub fn close(&mut self) {
        self.conn = None;
    }

    /// The last complete line of the target file, if the target is a non-empty regular file.
    /// A trailing partial line (a crash mid-write) is cut off first.
    pub fn last_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        let Target::File(path) = &self.target else {
            return Ok(None);
        };
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if !meta.file_type().is_file() || meta.len() == 0 {
            return Ok(None);
        }
        let mut f = OpenOptions::new().read(true).write(true).custom_flags(libc_nofollow()).open(path)?;
        let len = f.metadata()?.len();
        let window = len.min(MAX_TAIL);
        f.seek(SeekFrom::Start(len - window))?;
        let mut tail = Vec::with_capacity(window as usize);
        (&mut f).take(window).read_to_end(&mut tail)?;
        let end = match tail.iter().rposition(|b| *b == b'\n') {
            Some(i) => i,
            None if window == len => {
                tracing::warn!(path = %path.display(), "audit file holds only a partial line; it is cut off");
                f.set_len(0)?;
                return Ok(None);
            }
            None => return Err(io::Error::new(io::ErrorKind::InvalidData, "last audit line is too long")),
        };
        if end + 1 != tail.len() {
            tracing::warn!(path = %path.display(), "audit file ends with a partial line (a crash mid-write); it is cut off");
            f.set_len(len - window + end as u64 + 1)?;
        }
        let start = tail.get(..end).unwrap_or_default().iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        if start == 0 && window < len {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "last audit line is too long"));
        }
        Ok(Some(tail.get(start..end).unwrap_or_default().to_vec()))
    }
}

fn libc_nofollow() -> i32 {
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

/// Opens for append, creating with mode 0600, refusing symlinks; a regular file with looser
/// permissions is tightened. Character devices are accepted (`/dev/full`, `/dev/stdout`).
pub(super) fn open_file(path: &PathBuf) -> io::Result<File> {
    let f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc_nofollow() | rustix::fs::OFlags::CLOEXEC.bits() as i32)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                io::Error::new(io::ErrorKind::InvalidInput, format!("{} is a symlink", path.display()))
            } else {
                e
            }
        })?;
    let meta = f.metadata()?;
    let ft = meta.file_type();
    if ft.is_file() {
        if meta.permissions().mode() & 0o177 != 0 {
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
    } else if !ft.is_char_device() && !ft.is_fifo() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not a regular file", path.display())));
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn files_are_private_appended_and_symlinks_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(&path, b"old\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut s = Sink::new(Target::File(path.clone()));
        assert!(s.ensure_open().await.unwrap());
        assert!(!s.ensure_open().await.unwrap());
        s.write(b"new\n").await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"old\nnew\n");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let link = dir.path().join("link.log");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(Sink::new(Target::File(link)).ensure_open().await.is_err());
    }

    #[test]
    fn the_last_complete_line_is_found_and_a_partial_tail_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut s = Sink::new(Target::File(path.clone()));
        assert_eq!(s.last_line().unwrap(), None);
        std::fs::write(&path, b"one\ntwo\nthr").unwrap();
        assert_eq!(s.last_line().unwrap().unwrap(), b"two");
        assert_eq!(std::fs::read(&path).unwrap(), b"one\ntwo\n");
        std::fs::write(&path, b"only\n").unwrap();
        assert_eq!(s.last_line().unwrap().unwrap(), b"only");
    }

    #[tokio::test]
    async fn a_full_device_fails_the_write() {
        let mut s = Sink::new(Target::File("/dev/full".into()));
        s.ensure_open().await.unwrap();
        assert!(s.write(b"x\n").await.is_err());
    }
}
