//! A DPDK telemetry client of the tests' own (`SOCK_SEQPACKET`, a greeting, then one JSON reply
//! per command), as any operator's client talks to the socket.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use serde_json::Value;

/// The telemetry socket of a root process with `--file-prefix prefix`.
pub fn socket_path(prefix: &str) -> String {
    format!("/var/run/dpdk/{prefix}/dpdk_telemetry.v2")
}

pub struct Client(OwnedFd);

impl Client {
    pub fn connect(path: &str) -> (Client, Value) {
        // SAFETY: zeroed sockaddr_un is valid; the path fits (checked by the assert).
        let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        assert!(path.len() < addr.sun_path.len());
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (d, s) in addr.sun_path.iter_mut().zip(path.bytes()) {
            *d = s as libc::c_char;
        }
        // SAFETY: plain socket calls on a descriptor this function owns.
        let fd = unsafe {
            let raw = libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET, 0);
            assert!(raw >= 0);
            let fd = OwnedFd::from_raw_fd(raw);
            let rc = libc::connect(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_un).cast(),
                std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
            );
            assert_eq!(rc, 0, "connect {path}: {}", std::io::Error::last_os_error());
            fd
        };
        let c = Client(fd);
        let hello = c.receive();
        (c, hello)
    }

    pub fn receive(&self) -> Value {
        let mut buf = vec![0u8; 1 << 16];
        // SAFETY: buf is writable for its length.
        let n = unsafe { libc::recv(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        assert!(n > 0, "recv: {}", std::io::Error::last_os_error());
        serde_json::from_slice(&buf[..n as usize]).expect("JSON")
    }

    pub fn ask(&self, cmd: &str) -> Value {
        // SAFETY: cmd is readable for its length.
        let n = unsafe { libc::send(self.0.as_raw_fd(), cmd.as_ptr().cast(), cmd.len(), 0) };
        assert_eq!(n, cmd.len() as isize);
        let mut v = self.receive();
        v[cmd.split(',').next().unwrap()].take()
    }
}
