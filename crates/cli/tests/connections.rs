//! Connections against the real server: a cap per address answered 503, and sockets that
//! idle or dribble their headers closed after the header timeout, while `/health` answers.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::Project;

/// Reads until the server closes the socket (or `limit` passes); what it sent, and whether it
/// closed.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let deadline = Instant::now() + limit;
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    while Instant::now() < deadline {
        match stream.read(&mut buffer) {
            Ok(0) => return (String::from_utf8_lossy(&received).into_owned(), true),
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return (String::from_utf8_lossy(&received).into_owned(), true),
        }
    }
    (String::from_utf8_lossy(&received).into_owned(), false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_sockets_are_closed_and_past_the_cap_a_client_is_told_503() {
    let project = Project::with_plugins("plugins: {}\n", &[]);
    let server = project.serve(
        &[
            "--header-timeout-seconds",
            "1",
            "--max-connections-per-address",
            "6",
        ],
        &[],
    );
    let address = server.base.trim_start_matches("http://").to_owned();

    // Five sockets that say nothing, and one that sends half its headers.
    let mut idle: Vec<TcpStream> = (0..5)
        .map(|_| TcpStream::connect(&address).expect("connect"))
        .collect();
    let mut slow = TcpStream::connect(&address).expect("connect");
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .expect("half the headers");
    std::thread::sleep(Duration::from_millis(200));

    // The seventh from this address is over the cap: told so, then closed.
    let mut over = TcpStream::connect(&address).expect("connect");
    let (answer, closed) = read_until_closed(&mut over, Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );
    assert!(closed);

    // The header timeout closes every one of them.
    for stream in idle.iter_mut().chain(std::iter::once(&mut slow)) {
        let (_, closed) = read_until_closed(stream, Duration::from_secs(10));
        assert!(
            closed,
            "an idle or slow socket is closed after the header timeout"
        );
    }
    drop(idle);
    drop(slow);

    // And the server answers as before.
    let (status, health) = server.get(None, "/health").await;
    assert_eq!(status, 200, "{health}");
}
