//! Connections against the real server: a cap per address answered 503 (WebSockets count for
//! as long as they are open), sockets that idle or dribble their headers closed after the
//! header timeout, and a body that stops sending ended after the body pause, while `/health`
//! answers.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{ALICE, Project};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_count_against_the_cap_for_as_long_as_they_are_open() {
    let project = Project::with_plugins("plugins: {}\n", &[]);
    project.add_user(ALICE);
    let server = project.serve(&["--max-connections-per-address", "4"], &[]);
    let token = server.login(ALICE).await;
    // Devices connect until the cap of four is reached (the login's kept-alive connection
    // may hold one of the four).
    let mut sockets = Vec::new();
    let refused = loop {
        let url = server.ws_url(&format!(
            "/ws?codec=pcm&token={token}&device_name=d{}",
            sockets.len()
        ));
        match tokio_tungstenite::connect_async(url).await {
            Ok((socket, _)) => sockets.push(socket),
            Err(error) => break error.to_string(),
        }
        assert!(sockets.len() <= 4, "more WebSockets than the cap");
    };
    assert!(refused.contains("503"), "{refused}");
    assert!(
        sockets.len() >= 3,
        "only {} WebSockets opened",
        sockets.len()
    );
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut over = TcpStream::connect(&address).expect("connect");
    over.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("request");
    let (answer, _) = read_until_closed(&mut over, Duration::from_secs(5));
    assert!(
        answer.starts_with("HTTP/1.1 503"),
        "open WebSockets keep their slots: {answer}"
    );

    // One device leaves: its slot is free again.
    drop(sockets.pop());
    support::eventually("a slot to be free", Duration::from_secs(10), || async {
        let mut stream = TcpStream::connect(&address).map_err(|e| e.to_string())?;
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .map_err(|e| e.to_string())?;
        let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(5));
        if answer.starts_with("HTTP/1.1 200") {
            Ok(())
        } else {
            Err(answer)
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_sending_ends_its_request() {
    let project = Project::with_plugins("plugins: {}\n", &[]);
    let server = project.serve(&["--body-pause-seconds", "1"], &[]);
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).expect("connect");
    // A login whose body announces 100 bytes and sends 12.
    stream
        .write_all(
            b"POST /auth/jwt/login HTTP/1.1\r\nHost: x\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n\
              username=ali",
        )
        .expect("half a request");
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(10));
    assert!(
        answer.starts_with("HTTP/1.1 4"),
        "the paused body fails its request: {answer}"
    );
    assert!(closed, "and the connection is closed");
    let (status, _) = server.get(None, "/health").await;
    assert_eq!(status, 200);
}

/// A device that sends but never reads: the server's answers (here `pong`s) fill the socket's
/// buffers, its write blocks, and after `WRITE_TIMEOUT` (10 s) of a blocked write the server
/// closes the connection instead of holding it and its answers for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_never_reads_is_closed_once_a_write_has_waited_ten_seconds() {
    let project = Project::with_plugins("plugins: {}\n", &[]);
    project.add_user(ALICE);
    let server = project.serve(&[], &[]);
    let token = server.login(ALICE).await;
    let address: std::net::SocketAddr = server
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    let device = tokio::task::spawn_blocking(move || {
        // A receive buffer of 4 KiB (which also stops the kernel growing it), so the
        // server's writes block after a few hundred kilobytes rather than tens of megabytes.
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        socket.connect(&address.into()).expect("connect");
        let mut stream: TcpStream = socket.into();
        stream
            .write_all(
                format!(
                    "GET /ws?codec=pcm&token={token} HTTP/1.1\r\nHost: {address}\r\n\
                     Upgrade: websocket\r\nConnection: Upgrade\r\n\
                     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                     Sec-WebSocket-Version: 13\r\n\r\n"
                )
                .as_bytes(),
            )
            .expect("upgrade request");
        let mut answer = Vec::new();
        let mut byte = [0u8; 1];
        while !answer.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).expect("upgrade answer");
            answer.push(byte[0]);
        }
        assert!(
            answer.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&answer)
        );

        // Pings, as masked text frames (a zero mask leaves the bytes as they are), until the
        // server stops reading them: it is stuck writing pongs nobody reads.
        let ping = br#"{"type":"ping"}"#;
        let mut frame = vec![0x81, 0x80 | ping.len() as u8, 0, 0, 0, 0];
        frame.extend_from_slice(ping);
        let batch: Vec<u8> = frame.repeat(1_000);
        stream
            .set_write_timeout(Some(Duration::from_secs(3)))
            .expect("write timeout");
        let started = Instant::now();
        let mut sent = 0usize;
        let blocked = loop {
            match stream.write_all(&batch) {
                Ok(()) => sent += 1_000,
                Err(error) => break error,
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "{sent} pings in two minutes and the server still reads them"
            );
        };
        assert!(
            matches!(
                blocked.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "the server stopped reading, it did not close yet: {blocked}"
        );

        // Past the write timeout, the server has given up on this device: reading now drains
        // what was buffered and then finds the connection closed, long before every ping is
        // answered.
        std::thread::sleep(Duration::from_secs(12));
        let (pongs, closed) = read_until_closed(&mut stream, Duration::from_secs(30));
        (sent, pongs.matches("pong").count(), closed)
    })
    .await
    .expect("the device");
    let (sent, answered, closed) = device;
    eprintln!("{sent} pings sent before the server stopped reading, {answered} answered");
    assert!(
        closed,
        "the connection is still open: {answered} of {sent}+ pings answered"
    );
    assert!(answered < sent, "{answered} of {sent} pings answered");
    assert_eq!(server.get(None, "/health").await.0, 200);
}
