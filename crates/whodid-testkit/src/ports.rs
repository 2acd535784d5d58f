//! Loopback ports for test servers: the kernel picks a free one.

use std::net::TcpListener;

/// A TCP port on 127.0.0.1 that was free a moment ago (bound, then
/// released, for the server to bind). Servers retry on the rare clash.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 for a free port");
    listener
        .local_addr()
        .expect("local address of a bound listener")
        .port()
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
pub fn accepts(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}
